import TallyCore
import TallyLedger

/// The differential-privacy plan of a federation: either a target (ε, δ) over the configured
/// number of rounds, from which the noise multiplier is calibrated, or an explicit multiplier.
///
/// The unit is an organization's whole contribution to a round (the default: every cohort is
/// treated as sampled with probability 1, no amplification by sampling is claimed, so ε composes
/// over the rounds an organization took part in), or one record: each organization then
/// Poisson-samples its records with `samplingRate` every round and sends the sum of their clipped
/// gradients, and the coordinator divides the decoded sum by `expectedBatchSize` (DP-SGD across
/// the organizations; ``PrivacyUnit``).
public struct PrivacySettings: Sendable, Codable, Hashable {
    /// Target ε after `rounds` rounds at `delta`; ignored when `noiseMultiplier` is set.
    public var targetEpsilon: Double? = PrivacyBudget.defaultTargetEpsilon
    /// The δ of the target.
    public var delta = PrivacyBudget.defaultDelta
    /// An explicit z. 0 turns the noise off — then nothing is private, and the ledger says so
    /// (ε = ∞); only for benchmarks.
    public var noiseMultiplier: Double?
    /// What the guarantee protects: `organization` or `record`.
    public var unit = PrivacyUnit.organization
    /// Record unit only: q, the probability with which every organization samples each of its
    /// records in a round, in (0, 1).
    public var samplingRate: Double?
    /// Record unit only: B, the federation's expected sample per round (q times the records the
    /// federation expects to hold); public, the decoded sum is divided by it.
    public var expectedBatchSize: Int?

    public init(
        targetEpsilon: Double? = PrivacyBudget.defaultTargetEpsilon, delta: Double = PrivacyBudget.defaultDelta, noiseMultiplier: Double? = nil
    ) {
        self.targetEpsilon = targetEpsilon
        self.delta = delta
        self.noiseMultiplier = noiseMultiplier
    }

    /// The record-level sampling of every round plan; nil for the organization unit. Errors name
    /// the key.
    public func recordSampling() throws(TallyError) -> DistributedDPConfiguration.RecordSampling? {
        switch unit {
        case .organization:
            guard samplingRate == nil, expectedBatchSize == nil else {
                throw TallyError(
                    .invalidArgument,
                    "privacy.samplingRate and privacy.expectedBatchSize apply to the record unit only (privacy.unit is \"organization\")")
            }
            return nil
        case .record:
            guard let q = samplingRate, let b = expectedBatchSize else {
                throw TallyError(
                    .invalidArgument,
                    "privacy.unit \"record\" needs privacy.samplingRate (q, each record's chance to be in a round) and privacy.expectedBatchSize (q times the federation's records)"
                )
            }
            do {
                return try DistributedDPConfiguration.RecordSampling(samplingRate: q, expectedBatchSize: b)
            } catch {
                throw TallyError(.invalidArgument, "privacy: \(error.message)")
            }
        }
    }
}
