import TallyCore

/// The differential-privacy plan of a federation: either a target (ε, δ) over the configured
/// number of rounds, from which the noise multiplier is calibrated, or an explicit multiplier.
///
/// The guarantee is participant-level: the unit is an organization's whole contribution to a
/// round. Every cohort is treated as sampled with probability 1 (no amplification by sampling is
/// claimed), so ε composes over the rounds an organization took part in.
public struct PrivacySettings: Sendable, Codable, Hashable {
    /// Target ε after `rounds` rounds at `delta`; ignored when `noiseMultiplier` is set.
    public var targetEpsilon: Double? = 10
    /// The δ of the target.
    public var delta = 1e-5
    /// An explicit z. 0 turns the noise off — then nothing is private, and the ledger says so
    /// (ε = ∞); only for benchmarks.
    public var noiseMultiplier: Double?

    public init(targetEpsilon: Double? = 10, delta: Double = 1e-5, noiseMultiplier: Double? = nil) {
        self.targetEpsilon = targetEpsilon
        self.delta = delta
        self.noiseMultiplier = noiseMultiplier
    }
}
