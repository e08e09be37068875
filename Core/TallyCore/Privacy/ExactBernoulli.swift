/// Exact Bernoulli trials from uniform random integers, after Canonne, Kamath and Steinke,
/// "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Algorithm 1.
///
/// Every probability is a rational with integer numerator and denominator; no floating point
/// is ever involved, so the output distribution is exactly the stated one (up to the generator).
enum ExactBernoulli {
    /// Bernoulli(num/den), 0 ≤ num ≤ den, den > 0.
    @inline(__always)
    static func bernoulli(numerator: UInt128, denominator: UInt128, using random: inout RandomWords) -> Bool {
        if numerator >= denominator { return true }
        if numerator == 0 { return false }
        return random.uniform(below: denominator) < numerator
    }

    /// Bernoulli(exp(−γ)) for rational γ = num/den ≥ 0.
    static func bernoulliExpMinus(numerator: UInt128, denominator: UInt128, using random: inout RandomWords) -> Bool {
        precondition(denominator > 0)
        if numerator <= denominator {
            return bernoulliExpMinusAtMostOne(numerator: numerator, denominator: denominator, using: &random)
        }
        // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)); stop at the first failure.
        let whole = numerator / denominator
        var k: UInt128 = 0
        while k < whole {
            if !bernoulliExpMinusOne(using: &random) { return false }
            k += 1
        }
        return bernoulliExpMinusAtMostOne(numerator: numerator - whole * denominator, denominator: denominator, using: &random)
    }

    /// Bernoulli(exp(−1)): the k-loop below with γ = 1, in 64-bit arithmetic. Its first trial,
    /// Bernoulli(1/1), always succeeds, so the loop starts at k = 2 without drawing for it.
    @inline(__always)
    static func bernoulliExpMinusOne(using random: inout RandomWords) -> Bool {
        var k: UInt64 = 2
        while random.uniform(below: k) == 0 { k &+= 1 } // Bernoulli(1/k)
        return k & 1 == 1
    }

    /// γ ∈ [0, 1]: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until the first 0; exp(−γ) is the
    /// probability that this first 0 comes at an odd k.
    private static func bernoulliExpMinusAtMostOne(numerator: UInt128, denominator: UInt128, using random: inout RandomWords) -> Bool {
        if numerator == 0 { return true }
        var k: UInt128 = 1
        while true {
            let (scaled, overflow) = denominator.multipliedReportingOverflow(by: k)
            precondition(!overflow, "Bernoulli denominator overflow")
            if !bernoulli(numerator: numerator, denominator: scaled, using: &random) { break }
            k += 1
        }
        return k % 2 == 1
    }
}
