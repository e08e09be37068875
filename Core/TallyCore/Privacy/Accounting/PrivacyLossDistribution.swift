/// The privacy-loss distributions of a (composed) mechanism under add/remove adjacency: one for
/// "remove" (the neighbour lacks the participant) and one for "add". The mechanism is (ε, δ)-DP
/// for the worse of the two, as in dp_accounting; when both coincide (no subsampling) only one is kept.
///
/// Values are pessimistic: ``epsilon(delta:)`` and ``delta(epsilon:)`` never report less than the
/// true privacy loss of the mechanism (see ``PLDAccountant``).
public struct PrivacyLossDistribution: Sendable {
    let remove: PrivacyLossPMF
    let add: PrivacyLossPMF?

    /// The grid spacing of the privacy losses.
    public var discretization: Double { remove.interval }

    /// The smallest ε certified for this δ (`.infinity` when none is).
    public func epsilon(delta: Double) throws(TallyError) -> Double {
        try AccountingInput.check(delta: delta)
        let e = remove.epsilon(delta: delta)
        guard let add else { return e }
        return max(e, add.epsilon(delta: delta))
    }

    /// A δ for which the mechanism is (ε, δ)-DP.
    public func delta(epsilon: Double) throws(TallyError) -> Double {
        try AccountingInput.check(epsilon: epsilon)
        let d = remove.delta(epsilon: epsilon)
        guard let add else { return d }
        return max(d, add.delta(epsilon: epsilon))
    }

    /// This mechanism followed by `other` (the same participant in both), e.g. rounds with
    /// different noise or cohorts. Both must use the same discretization.
    public func composed(with other: PrivacyLossDistribution) throws(TallyError) -> PrivacyLossDistribution {
        guard discretization == other.discretization else {
            throw TallyError(.invalidArgument, "cannot compose PLDs with discretization \(discretization) and \(other.discretization)")
        }
        let r = try remove.composed(with: other.remove)
        if add == nil && other.add == nil { return PrivacyLossDistribution(remove: r, add: nil) }
        let a = try (add ?? remove).composed(with: other.add ?? other.remove)
        return PrivacyLossDistribution(remove: r, add: a)
    }

    /// This mechanism repeated `times` times.
    public func selfComposed(times: Int) throws(TallyError) -> PrivacyLossDistribution {
        try AccountingInput.check(steps: times)
        let r = try remove.selfComposed(times: times)
        guard let add else { return PrivacyLossDistribution(remove: r, add: nil) }
        return PrivacyLossDistribution(remove: r, add: try add.selfComposed(times: times))
    }
}
