#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// ε of a mechanism M′ that coincides with an accounted mechanism M except on a failure event of
/// probability at most p under every input (so TV(M′(D), M(D)) ≤ p for every D).
///
/// If M is (ε, δ_M(ε))-DP then M′ is (ε, δ_M(ε) + (1 + e^ε)·p)-DP: for every set S,
///
///     P[M′(D) ∈ S] ≤ P[M(D) ∈ S] + p ≤ e^ε·P[M(D′) ∈ S] + δ_M(ε) + p
///                  ≤ e^ε·P[M′(D′) ∈ S] + δ_M(ε) + (1 + e^ε)·p.
///
/// Over several rounds (adaptively composed), the runs of M′ and M can be coupled to agree unless
/// some round's failure event occurs, so p is the sum of the rounds' probabilities (union bound).
/// This is how ledger entries of the old clamped mechanism are charged; δ_M is the accountant's
/// curve for the unclamped composition.
public enum FailureEventCharge {
    /// Grid points scanned between the lower bound and the largest ε at which (1 + e^ε)·p < δ.
    static let scanPoints = 256

    /// The smallest ε found with δ_M(ε) + (1 + e^ε)·p ≤ δ (a grid scan, then bisection to 10⁻¹²
    /// relative), or +∞ when none is found. Whatever it returns satisfies the inequality, so it is
    /// never an under-report.
    ///
    /// - Parameters:
    ///   - lowerBound: an ε no feasible one is below, e.g. the ε of M at δ (ignoring p).
    ///   - mechanismDelta: δ_M(ε), non-increasing in ε.
    public static func epsilon(
        delta: Double, failureProbability p: Double, lowerBound: Double,
        mechanismDelta: (Double) throws(TallyError) -> Double
    ) throws(TallyError) -> Double {
        guard delta.isFinite, delta > 0, delta < 1 else { throw TallyError(.invalidArgument, "δ must be in (0, 1), got \(delta)") }
        guard p.isFinite, p >= 0, p <= 1 else { throw TallyError(.invalidArgument, "failure probability must be in [0, 1], got \(p)") }
        guard !lowerBound.isNaN else { throw TallyError(.invalidArgument, "the lower bound on ε is not a number") }
        func feasible(_ epsilon: Double) throws(TallyError) -> Bool {
            try mechanismDelta(epsilon) + (1 + exp(epsilon)) * p <= delta
        }
        let low = max(0, lowerBound)
        guard low.isFinite else { return .infinity }
        if try feasible(low) { return low }
        // Beyond log(δ/p − 1) the failure term alone exceeds δ (p = 0: no bound from it, and the
        // lower bound should already have been feasible; nothing better is searched for).
        guard p > 0 else { return .infinity }
        let ratio = delta / p - 1
        guard ratio > 1 else { return .infinity }
        let high = log(ratio)
        guard high > low else { return .infinity }
        var previous = low
        for i in 1...scanPoints {
            let candidate = low + (high - low) * Double(i) / Double(scanPoints)
            if try feasible(candidate) {
                // Bisect between an infeasible and a feasible point; keep the feasible end.
                var bad = previous, good = candidate
                for _ in 0..<100 where good - bad > 1e-12 * max(1, good) {
                    let middle = 0.5 * (bad + good)
                    if try feasible(middle) { good = middle } else { bad = middle }
                }
                return good
            }
            previous = candidate
        }
        return .infinity
    }
}
