public import TallyCore

extension LedgerEntry {
    /// The entry for a round encoded with `privacy`, whose released sum holds `noiseShares`
    /// noise shares: the coordinator passes the survivors it counted, a participant the threshold
    /// (the guarantee it can rely on). Cohorts are not Poisson samples, so q = 1: no
    /// amplification by sampling is claimed.
    public init(roundID: UInt64, modelVersion: Int64?, modelHash: String, participants: [UInt32], noiseShares: Int,
                privacy: DistributedDPConfiguration, recordedAt: Double) {
        self.init(roundID: roundID, modelVersion: modelVersion, modelHash: modelHash, participants: participants,
                  cohortSize: privacy.cohortSize, samplingRate: 1, clipNorm: privacy.clipNorm,
                  noiseMultiplier: privacy.noiseMultiplier, mechanism: DistributedDPConfiguration.mechanism,
                  shareSigmaSquared: privacy.shareSigmaSquared, noiseShares: noiseShares, threshold: privacy.threshold,
                  l2Sensitivity: privacy.l2Sensitivity, dimension: privacy.dimension, deltaClamp: privacy.deltaClamp,
                  recordedAt: recordedAt)
    }
}
