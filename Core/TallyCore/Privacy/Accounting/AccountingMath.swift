#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Log-space and special-function helpers shared by the accountants.
///
/// Everything privacy-relevant is computed as a logarithm or as a sum of positive terms, so that
/// tiny probabilities (10^-20 and below) keep their relative precision instead of vanishing in a
/// difference of numbers close to 1.
enum AccountingMath {
    /// Unit roundoff of `Double` (2^-53).
    static let unitRoundoff = 0x1p-53

    /// log(e^a + e^b), exact for infinite arguments.
    @inline(__always)
    static func logAddExp(_ a: Double, _ b: Double) -> Double {
        if a == -.infinity { return b }
        if b == -.infinity { return a }
        return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b))
    }

    /// log(e^a − e^b) for a ≥ b; −∞ when a == b.
    @inline(__always)
    static func logSubExp(_ a: Double, _ b: Double) -> Double {
        if b == -.infinity { return a }
        if a <= b { return -.infinity }
        return a + log1p(-exp(b - a))
    }

    /// log Φ(x), Φ the standard normal CDF, accurate to a few ulps relative to Φ itself for all x
    /// (also in the far left tail where Φ underflows).
    static func logNormalCDF(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        if x == .infinity { return 0 }
        if x == -.infinity { return -.infinity }
        if x >= 0 {
            return log1p(-0.5 * erfc(x * 0.5.squareRoot()))
        }
        if x > -36 {
            return log(0.5 * erfc(-x * 0.5.squareRoot()))
        }
        // Asymptotic (Laplace) series of the Mills ratio; at |x| ≥ 36 the omitted terms are < 1e-16.
        let r = 1 / (x * x)
        let series = 1 + r * (-1 + r * (3 + r * (-15 + r * (105 + r * (-945 + r * 10395)))))
        return -0.5 * x * x - log(-x) - 0.5 * log(2 * Double.pi) + log(series)
    }

    /// Φ^{-1}(e^logP) for logP ≤ log(1/2), by bisection on ``logNormalCDF`` (monotone), to full precision.
    static func normalQuantile(logProbability logP: Double) -> Double {
        precondition(logP <= -0.6931471805599453, "only the left half is needed")
        var lo = -40.0, hi = 0.0
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid == lo || mid == hi { break }
            if logNormalCDF(mid) < logP { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }

    /// log C(n, k) for real n and integer k with 0 ≤ k ≤ n (via lgamma, as scipy's gammaln).
    @inline(__always)
    static func logBinomial(_ n: Double, _ k: Double) -> Double {
        lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    }

    /// log(1 − q + q·e^a) for q in (0, 1], accurate for large and very negative a.
    @inline(__always)
    static func logOneMinusQPlusQExp(_ q: Double, _ a: Double) -> Double {
        if q == 1 { return a }
        if a <= 0 { return log1p(q * expm1(a)) }
        // a + log(q + (1−q)e^{−a})
        return a + log(q + (1 - q) * exp(-a))
    }

    /// Smallest n' ≥ n whose only prime factors are 2, 3, 5 and 7 (sizes FFTW handles fastest).
    static func fastFFTLength(atLeast n: Int) -> Int {
        var best = Int.max
        var p7 = 1
        while p7 < 2 * n {
            var p5 = p7
            while p5 < 2 * n {
                var p3 = p5
                while p3 < 2 * n {
                    var p2 = p3
                    while p2 < n { p2 *= 2 }
                    if p2 < best { best = p2 }
                    p3 *= 3
                }
                p5 *= 5
            }
            p7 *= 7
        }
        return max(best, 1)
    }
}
