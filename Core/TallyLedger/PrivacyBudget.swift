/// A participant's privacy budget: the (ε, δ) its organization accepts over the federation's life.
/// δ is the total, including the charge for clamping in old ledger entries (``PrivacyReport``).
public struct PrivacyBudget: Codable, Sendable, Hashable {
    public var epsilon: Double
    public var delta: Double

    /// The coordinator's default target ε over its configured rounds.
    public static let defaultTargetEpsilon = 10.0
    /// A participant's default budget: the coordinator's default target with half again as
    /// headroom, because a round aborted after a participant's input left is charged to it
    /// (over-counting, safe) but not to the coordinator's plan. Defaults on both sides let a
    /// federation run every configured round even after a few such aborts.
    public static let defaultEpsilon = 1.5 * defaultTargetEpsilon
    public static let defaultDelta = 1e-5

    public init(epsilon: Double, delta: Double) {
        self.epsilon = epsilon
        self.delta = delta
    }
}
