/// An accountant for T rounds of the Poisson-subsampled Gaussian mechanism with ℓ2 sensitivity 1
/// (noise standard deviation = noise multiplier z), under add/remove-one adjacency.
///
/// Every implementation returns an *upper bound*: the mechanism is (ε, δ)-DP for the ε it
/// reports, and δ(ε) it reports is never below the true hockey-stick divergence.
public protocol PrivacyAccountant: Sendable {
    /// The smallest ε this accountant can certify for the given δ (may be `.infinity`).
    func epsilon(noiseMultiplier: Double, samplingRate: Double, steps: Int, delta: Double) throws(TallyError) -> Double
    /// A δ such that the mechanism is (ε, δ)-DP.
    func delta(noiseMultiplier: Double, samplingRate: Double, steps: Int, epsilon: Double) throws(TallyError) -> Double
}

/// Argument checks shared by the accountants, with messages that say what to change.
enum AccountingInput {
    static func check(noiseMultiplier z: Double) throws(TallyError) {
        guard z.isFinite, z > 0 else {
            throw TallyError(.invalidArgument, "noise multiplier must be positive and finite, got \(z)")
        }
    }

    static func check(samplingRate q: Double) throws(TallyError) {
        guard q.isFinite, q > 0, q <= 1 else {
            throw TallyError(.invalidArgument, "sampling rate must be in (0, 1], got \(q)")
        }
    }

    static func check(steps: Int) throws(TallyError) {
        guard steps >= 1 else {
            throw TallyError(.invalidArgument, "steps must be at least 1, got \(steps)")
        }
    }

    static func check(delta: Double) throws(TallyError) {
        guard delta.isFinite, delta > 0, delta < 1 else {
            throw TallyError(.invalidArgument, "δ must be in (0, 1), got \(delta)")
        }
    }

    static func check(epsilon: Double) throws(TallyError) {
        guard epsilon.isFinite, epsilon >= 0 else {
            throw TallyError(.invalidArgument, "ε must be finite and non-negative, got \(epsilon)")
        }
    }

    static func check(noiseMultiplier z: Double, samplingRate q: Double, steps: Int) throws(TallyError) {
        try check(noiseMultiplier: z)
        try check(samplingRate: q)
        try check(steps: steps)
    }
}
