public import TallyCore

extension LedgerEntry {
    /// The entry for a round encoded with `privacy`, whose released sum holds `noiseShares`
    /// noise shares the guarantee can count on against a coordinator colluding with c
    /// participants: the coordinator passes the survivors it counted less c, a participant t − c
    /// (``DistributedDPConfiguration/guaranteedShares``), the fewest honest shares any unmaskable
    /// sum contains. The unit and q are the encoding's: for the organization unit q = 1 (cohorts
    /// are not Poisson samples, so no amplification by sampling is claimed); for the record unit
    /// the records' sampling rate. Noise is added unclamped: δ_clamp = 0.
    public init(
        roundID: UInt64, modelVersion: Int64?, modelHash: String, participants: [UInt32], noiseShares: Int,
        privacy: DistributedDPConfiguration, recordedAt: Double
    ) {
        self.init(
            roundID: roundID, modelVersion: modelVersion, modelHash: modelHash, participants: participants,
            cohortSize: privacy.cohortSize, privacyUnit: privacy.unit.rawValue,
            samplingRate: privacy.records?.samplingRate ?? 1, clipNorm: privacy.clipNorm,
            noiseMultiplier: privacy.noiseMultiplier, mechanism: DistributedDPConfiguration.mechanism,
            shareSigmaSquared: privacy.shareSigmaSquared, noiseShares: noiseShares, threshold: privacy.threshold,
            collusionMargin: privacy.collusionMargin, l2Sensitivity: privacy.l2Sensitivity, dimension: privacy.dimension,
            deltaClamp: 0, recordedAt: recordedAt)
    }
}
