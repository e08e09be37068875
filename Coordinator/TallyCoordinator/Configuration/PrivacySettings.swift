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
    /// The δ of the target (the clamping probability of every round is part of it).
    public var delta = 1e-5
    /// An explicit z. 0 turns the noise off — then nothing is private, and the ledger says so
    /// (ε = ∞); only for benchmarks.
    public var noiseMultiplier: Double?

    public init(targetEpsilon: Double? = 10, delta: Double = 1e-5, noiseMultiplier: Double? = nil) {
        self.targetEpsilon = targetEpsilon
        self.delta = delta
        self.noiseMultiplier = noiseMultiplier
    }

    /// The noise multiplier every round uses: the explicit one, or the smallest z whose RDP ε
    /// after `rounds` rounds meets the target. RDP, not PLD, because budgets are enforced with the
    /// RDP bound (the one proved for the distributed discrete Gaussian); its δ leaves room for
    /// the clamping probability of every round.
    public func resolvedNoiseMultiplier(rounds: Int, deltaClampPerRound: Double) throws(TallyError) -> Double {
        if let z = noiseMultiplier {
            guard z.isFinite, z >= 0 else { throw TallyError(.invalidArgument, "privacy.noiseMultiplier must be ≥ 0, got \(z)") }
            return z
        }
        guard let target = targetEpsilon else {
            throw TallyError(.invalidArgument, "privacy needs targetEpsilon or noiseMultiplier")
        }
        guard rounds > 0 else {
            throw TallyError(.invalidArgument, "a target ε needs a finite number of rounds; set rounds, or set privacy.noiseMultiplier")
        }
        let mechanismDelta = delta - Double(rounds) * deltaClampPerRound
        guard mechanismDelta > 0 else {
            throw TallyError(.invalidArgument, "δ = \(delta) is smaller than the clamping probability of \(rounds) rounds")
        }
        return try NoiseCalibration.noiseMultiplier(targetEpsilon: target, delta: mechanismDelta, samplingRate: 1, steps: rounds,
                                                    accountant: RDPAccountant()).noiseMultiplier
    }
}
