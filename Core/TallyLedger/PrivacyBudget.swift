/// A participant's privacy budget: the (ε, δ) its organization accepts over the federation's life.
/// δ is the total, including the charge for clamping in old ledger entries (``PrivacyReport``).
public struct PrivacyBudget: Codable, Sendable, Hashable {
    public var epsilon: Double
    public var delta: Double

    public init(epsilon: Double, delta: Double) {
        self.epsilon = epsilon
        self.delta = delta
    }
}
