/// The smallest noise multiplier that reaches a privacy target.
///
/// ε(z) decreases in z, so bisection brackets the threshold; the result is the *upper* end of the
/// final bracket, for which ε(z) ≤ target was actually computed, so calibrating never overshoots the
/// budget. With the PLD accountant the bracket starts from the RDP answer (RDP's ε is never below
/// PLD's, so that z is already feasible), which saves most PLD evaluations.
public enum NoiseCalibration {
    /// A calibrated noise multiplier and the ε the accountant certifies for it (≤ the target).
    public struct Result: Sendable, Hashable {
        public let noiseMultiplier: Double
        public let epsilon: Double
    }

    /// Largest noise multiplier searched.
    public static let maxNoiseMultiplier = 1e4

    /// - Parameter relativeTolerance: the returned z is within this factor of the smallest feasible z.
    public static func noiseMultiplier(
        targetEpsilon: Double, delta: Double, samplingRate q: Double, steps: Int,
        accountant: some PrivacyAccountant, relativeTolerance: Double = 1e-3
    ) throws(TallyError) -> Result {
        guard targetEpsilon.isFinite, targetEpsilon > 0 else {
            throw TallyError(.invalidArgument, "target ε must be positive and finite, got \(targetEpsilon)")
        }
        try AccountingInput.check(delta: delta)
        try AccountingInput.check(samplingRate: q)
        try AccountingInput.check(steps: steps)
        guard relativeTolerance > 0, relativeTolerance < 0.5 else {
            throw TallyError(.invalidArgument, "relative tolerance must be in (0, 0.5), got \(relativeTolerance)")
        }

        func eps(_ z: Double) throws(TallyError) -> Double {
            try accountant.epsilon(noiseMultiplier: z, samplingRate: q, steps: steps, delta: delta)
        }

        // Upper end: a z known to be feasible.
        var high: Double
        var highEpsilon: Double
        if accountant is PLDAccountant {
            let rdp = try noiseMultiplier(targetEpsilon: targetEpsilon, delta: delta, samplingRate: q, steps: steps,
                                          accountant: RDPAccountant(), relativeTolerance: relativeTolerance)
            high = rdp.noiseMultiplier
            highEpsilon = try eps(high)
        } else {
            high = 1
            highEpsilon = try eps(high)
            while highEpsilon > targetEpsilon {
                guard high < maxNoiseMultiplier else {
                    throw TallyError(.invalidArgument, "ε = \(targetEpsilon) at δ = \(delta) is not reachable with a noise multiplier up to \(maxNoiseMultiplier)")
                }
                high *= 2
                highEpsilon = try eps(high)
            }
        }
        // Below `high` a z whose ε cannot be computed (e.g. a PLD grid beyond the FFT limit) counts
        // as infeasible: that can only make the answer larger, never over budget.
        func probe(_ z: Double) -> Double? {
            guard let e = try? eps(z), e <= targetEpsilon else { return nil }
            return e
        }
        // Lower end: a z known to be infeasible (or as small as worth distinguishing).
        var low = high / 2
        while let e = probe(low) {
            high = low
            highEpsilon = e
            guard low > 1e-3 else { return Result(noiseMultiplier: high, epsilon: highEpsilon) }
            low /= 2
        }
        while high - low > relativeTolerance * high {
            let mid = 0.5 * (low + high)
            if let e = probe(mid) {
                high = mid
                highEpsilon = e
            } else {
                low = mid
            }
        }
        return Result(noiseMultiplier: high, epsilon: highEpsilon)
    }
}
