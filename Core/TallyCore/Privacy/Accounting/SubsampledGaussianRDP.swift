#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Rényi DP of one step of the Poisson-subsampled Gaussian mechanism (sensitivity 1, noise σ = z).
///
/// Mironov, Talwar, Zhang (2019), "Rényi Differential Privacy of the Sampled Gaussian Mechanism":
/// with μ0 = N(0, σ²), μ1 = N(1, σ²) and μ = (1−q)μ0 + qμ1, the RDP at order α is
/// ε(α) = log(A_α)/(α−1), A_α = E_{z∼μ0}[(μ(z)/μ0(z))^α]  (their Section 3).
///
/// * Integer α: binomial expansion,
///   A_α = Σ_{i=0}^{α} C(α,i) (1−q)^{α−i} q^i exp((i²−i)/(2σ²)).
/// * Fractional α (Section 3.3): split the integral at z0 = σ² log(1/q − 1) + 1/2, where
///   q·μ1/μ0 = 1−q, and expand (1−q + q·r)^α by the generalized binomial series on each side:
///   A_α = Σ_{i≥0} C(α,i) [ (1−q)^{α−i} q^i e^{(i²−i)/(2σ²)} Φ((z0−i)/σ)
///                        + q^{α−i} (1−q)^i e^{(j²−j)/(2σ²)} Φ((j−z0)/σ) ],  j = α − i.
///   C(α,i) = α(α−1)…(α−i+1)/i! is *negative* for every other i > ⌊α⌋+1. Google dp_accounting 0.6
///   takes log|C(α,i)| from lgamma and adds every term, dropping that sign, which overstates A_α
///   (the RDP at α = 1.5 by 4% for q = 0.01, σ = 1 and by 73% for q = 0.2, σ = 2, against direct
///   numerical integration). We keep the sign and sum positive and negative parts separately in
///   log space.
///
/// Truncation of the fractional series is *sound*: for i > ⌊α⌋ both term magnitudes decrease
/// strictly in i (|C(α,i)| does since |α−i| < i+1, and the Gaussian factors are
/// y²/2 + log Φ(∓y) with monotone derivative by the Mills-ratio inequality) and the signs alternate,
/// so the partial sum that ends on a positive term is an upper bound on each series. We stop only
/// there, so the returned RDP is never below the true one.
enum SubsampledGaussianRDP {
    /// Terms summed at most in the fractional-order series; the partial sum stays an upper bound.
    static let maxFractionalTerms = 20_000

    /// RDP ε(α) of one step. `order` > 1; z > 0; q in (0, 1]. May return `.infinity`.
    static func rdp(order alpha: Double, sigma: Double, samplingRate q: Double) -> Double {
        precondition(alpha > 1 && sigma > 0 && q > 0 && q <= 1)
        if alpha == .infinity { return .infinity }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        let logA: Double
        if alpha == alpha.rounded(), alpha <= 1e6 {
            logA = logAInteger(alpha: Int(alpha), sigma: sigma, q: q)
        } else {
            logA = logAFractional(alpha: alpha, sigma: sigma, q: q)
        }
        return max(0, logA / (alpha - 1))
    }

    /// log A_α for integer α ≥ 2 and 0 < q < 1.
    static func logAInteger(alpha: Int, sigma: Double, q: Double) -> Double {
        let logQ = log(q), log1mQ = log1p(-q)
        let a = Double(alpha)
        let twoSigma2 = 2 * sigma * sigma
        var logA = -Double.infinity
        for i in 0...alpha {
            let di = Double(i)
            let term = AccountingMath.logBinomial(a, di) + di * logQ + (a - di) * log1mQ + (di * di - di) / twoSigma2
            logA = AccountingMath.logAddExp(logA, term)
        }
        return logA
    }

    /// log A_α for fractional α > 1 and 0 < q < 1: the two signed series of Section 3.3.
    static func logAFractional(alpha: Double, sigma: Double, q: Double) -> Double {
        let logQ = log(q), log1mQ = log1p(-q)
        let twoSigma2 = 2 * sigma * sigma
        let z0 = sigma * sigma * (log1mQ - logQ) + 0.5
        let floorAlpha = alpha.rounded(.down)

        var positive = -Double.infinity // log of the sum of positive terms (both series)
        var negative = -Double.infinity // log of the magnitude of the sum of negative terms
        var logAbsBinomial = 0.0 // log |C(α, i)|
        var signPositive = true // sign of C(α, i)
        var i = 0
        while true {
            let di = Double(i)
            let j = alpha - di
            let t0 =
                logAbsBinomial + di * logQ + j * log1mQ + (di * di - di) / twoSigma2
                + AccountingMath.logNormalCDF((z0 - di) / sigma)
            let t1 =
                logAbsBinomial + j * logQ + di * log1mQ + (j * j - j) / twoSigma2
                + AccountingMath.logNormalCDF((j - z0) / sigma)
            let term = AccountingMath.logAddExp(t0, t1)
            if signPositive {
                positive = AccountingMath.logAddExp(positive, term)
            } else {
                negative = AccountingMath.logAddExp(negative, term)
            }
            // Past ⌊α⌋+1 the series alternates with decreasing magnitude: ending on a positive term
            // leaves an upper bound. Stop once the last term is below e^-28 ≈ 7e-13 of the total
            // (the overshoot is at most that term), or at the term cap (still an upper bound).
            if signPositive && di > floorAlpha {
                let total = AccountingMath.logSubExp(positive, negative)
                if term < total - 28 || i >= maxFractionalTerms { return total }
            }
            // C(α, i+1) = C(α, i)·(α − i)/(i + 1).
            let factor = alpha - di
            logAbsBinomial += log(abs(factor)) - log(di + 1)
            if factor < 0 { signPositive.toggle() }
            i += 1
        }
    }
}
