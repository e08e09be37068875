/// Privacy-loss-distribution accountant for T rounds of the Poisson-subsampled Gaussian.
///
/// Tight where RDP is loose: the PLD of a composition is the convolution of the rounds' PLDs
/// (Meiser–Mohammadi 2018; Koskela, Jälkö, Honkela 2020), done here by FFT (FFTW), and
/// δ(ε) = E[(1 − e^{ε−L})₊] is read off exactly. It never reports ε below the true one:
/// * each round's PLD is the pessimistic connect-the-dots discretization (Doroshenko et al. 2022),
///   which dominates the mechanism, for both the "remove" and the "add" dominating pair, and the
///   worse of the two is reported (dp_accounting does the same);
/// * composition truncates only mass that a Chernoff bound certifies to be ≤ `tailMassTruncation`
///   and moves it to +∞, the worst place for it;
/// * the FFT's floating-point error is bounded and added to δ (``PrivacyLossPMF``).
/// Defaults match dp_accounting's `PLDAccountant`: interval 1e-4, noise tails below e^−50 to +∞,
/// tail truncation 1e-15.
public struct PLDAccountant: PrivacyAccountant, Hashable {
    /// Spacing of the privacy-loss grid.
    public let discretization: Double
    /// log of the Gaussian tail mass per side that the single-round grid does not resolve.
    public let logMassTruncation: Double
    /// Mass a composition may move to +∞.
    public let tailMassTruncation: Double

    /// dp_accounting's defaults.
    public init() {
        discretization = 1e-4
        logMassTruncation = -50
        tailMassTruncation = 1e-15
    }

    public init(discretization: Double, logMassTruncation: Double = -50, tailMassTruncation: Double = 1e-15) throws(TallyError) {
        guard discretization.isFinite, discretization > 0, discretization <= 1 else {
            throw TallyError(.invalidArgument, "discretization interval must be in (0, 1], got \(discretization)")
        }
        guard logMassTruncation.isFinite, logMassTruncation <= -10, logMassTruncation >= -700 else {
            throw TallyError(.invalidArgument, "log mass truncation must be in [−700, −10], got \(logMassTruncation)")
        }
        guard tailMassTruncation > 0, tailMassTruncation < 1e-6 else {
            throw TallyError(.invalidArgument, "tail mass truncation must be in (0, 1e-6), got \(tailMassTruncation)")
        }
        self.discretization = discretization
        self.logMassTruncation = logMassTruncation
        self.tailMassTruncation = tailMassTruncation
    }

    /// The PLD of `steps` rounds; compose it with other rounds' PLDs for heterogeneous schedules.
    public func privacyLossDistribution(noiseMultiplier z: Double, samplingRate q: Double, steps: Int) throws(TallyError)
        -> PrivacyLossDistribution
    {
        try AccountingInput.check(noiseMultiplier: z, samplingRate: q, steps: steps)
        let mechanism = SubsampledGaussianMechanism(sigma: z, samplingRate: q)
        let remove = try mechanism.connectTheDots(.remove, interval: discretization, logMassTruncation: logMassTruncation)
            .selfComposed(times: steps, tailMass: tailMassTruncation)
        guard q < 1 else { return PrivacyLossDistribution(remove: remove, add: nil) }
        let add = try mechanism.connectTheDots(.add, interval: discretization, logMassTruncation: logMassTruncation)
            .selfComposed(times: steps, tailMass: tailMassTruncation)
        return PrivacyLossDistribution(remove: remove, add: add)
    }

    public func epsilon(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, delta: Double) throws(TallyError) -> Double {
        try AccountingInput.check(delta: delta)
        return try privacyLossDistribution(noiseMultiplier: z, samplingRate: q, steps: steps).epsilon(delta: delta)
    }

    public func delta(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, epsilon: Double) throws(TallyError) -> Double {
        try AccountingInput.check(epsilon: epsilon)
        return try privacyLossDistribution(noiseMultiplier: z, samplingRate: q, steps: steps).delta(epsilon: epsilon)
    }
}
