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

    /// The noise multiplier every round uses: the explicit one, or the smallest z whose RDP ε
    /// after `rounds` rounds meets the target at δ. RDP, not PLD, because budgets are enforced
    /// with the RDP bound. No δ is set aside: noise is added unclamped, so no round has a
    /// clamping probability.
    ///
    /// Why this z meets the target in a real round: each share has σ² ≥ z²Δ₂²/(t − c), so the
    /// distributed discrete Gaussian bound (``DistributedDiscreteGaussian``) for the t − c honest
    /// shares is at most α/(2z²) + τ·d per round, the Gaussian RDP calibrated here plus τ·d,
    /// τ = 10·Σ_{k<t−c} e^{−2π²σ²k/(k+1)} ≤ 10(t − c)·e^{−π²σ²}. τ·d is exactly 0 in floating
    /// point once σ² > 76 and below 10⁻²⁰ for σ² ≥ 8 (t ≤ 1000, d ≤ 2^30); the scale puts σ near
    /// 2^{b−1}/k, so σ² is in the millions at 16 value bits. Only a share with σ² of order 1 (very
    /// few value bits) makes τ·d matter: the ledger's RDP ε is then above the target, and
    /// participants' budgets decline the round.
    public func resolvedNoiseMultiplier(rounds: Int) throws(TallyError) -> Double {
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
        return try NoiseCalibration.noiseMultiplier(targetEpsilon: target, delta: delta, samplingRate: 1, steps: rounds,
                                                    accountant: RDPAccountant()).noiseMultiplier
    }
}
