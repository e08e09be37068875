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
        try AccountingInput.check(delta: delta)
        try AccountingInput.check(samplingRate: q)
        try AccountingInput.check(steps: steps)
        func eps(_ z: Double) throws(TallyError) -> Double {
            try accountant.epsilon(noiseMultiplier: z, samplingRate: q, steps: steps, delta: delta)
        }
        // With PLD, start from the RDP answer: RDP's ε is never below PLD's, so it is feasible.
        var feasible: Double?
        if accountant is PLDAccountant {
            feasible = try noiseMultiplier(
                targetEpsilon: targetEpsilon, delta: delta, samplingRate: q, steps: steps,
                accountant: RDPAccountant(), relativeTolerance: relativeTolerance
            ).noiseMultiplier
        }
        return try search(targetEpsilon: targetEpsilon, relativeTolerance: relativeTolerance, feasible: feasible, epsilon: eps)
    }

    /// The smallest z with `epsilon(z)` ≤ the target, for any ε(z) that decreases in z — e.g. the
    /// ledger's own bound for the rounds a plan would charge, so that calibration and budgets use
    /// one function.
    /// - Parameter feasible: a z already known to meet the target, to start the bracket from.
    public static func search(
        targetEpsilon: Double, relativeTolerance: Double = 1e-3, feasible: Double? = nil,
        epsilon eps: (Double) throws(TallyError) -> Double
    ) throws(TallyError) -> Result {
        guard targetEpsilon.isFinite, targetEpsilon > 0 else {
            throw TallyError(.invalidArgument, "target ε must be positive and finite, got \(targetEpsilon)")
        }
        guard relativeTolerance > 0, relativeTolerance < 0.5 else {
            throw TallyError(.invalidArgument, "relative tolerance must be in (0, 0.5), got \(relativeTolerance)")
        }
        // Upper end: a z known to be feasible.
        var high: Double
        var highEpsilon: Double
        if let feasible {
            high = feasible
            highEpsilon = try eps(high)
        } else {
            high = 1
            highEpsilon = try eps(high)
            while highEpsilon > targetEpsilon {
                guard high < maxNoiseMultiplier else {
                    throw TallyError(
                        .invalidArgument, "ε = \(targetEpsilon) is not reachable with a noise multiplier up to \(maxNoiseMultiplier)")
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
