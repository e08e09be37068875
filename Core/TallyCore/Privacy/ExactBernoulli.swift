/// Exact Bernoulli trials from uniform random integers, after Canonne, Kamath and Steinke,
/// "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Algorithm 1.
///
/// Every probability is a rational with integer numerator and denominator; no floating point
/// is ever involved, so the output distribution is exactly the stated one (up to the generator).
struct ExactBernoulli {
    /// Bernoulli(num/den), 0 ≤ num ≤ den, den > 0.
    @inline(__always)
    static func bernoulli(numerator: UInt128, denominator: UInt128, using random: some CryptoRandomSource) -> Bool {
        precondition(denominator > 0 && numerator <= denominator)
        if numerator == denominator { return true }
        if numerator == 0 { return false }
        var generator = RandomAdapter(random)
        return UInt128.random(in: 0..<denominator, using: &generator) < numerator
    }

    /// Bernoulli(exp(−γ)) for rational γ = num/den ≥ 0.
    static func bernoulliExpMinus(numerator: UInt128, denominator: UInt128, using random: some CryptoRandomSource) -> Bool {
        precondition(denominator > 0)
        if numerator <= denominator {
            return bernoulliExpMinusAtMostOne(numerator: numerator, denominator: denominator, using: random)
        }
        // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)); stop at the first failure.
        let whole = numerator / denominator
        var k: UInt128 = 0
        while k < whole {
            if !bernoulliExpMinusAtMostOne(numerator: 1, denominator: 1, using: random) { return false }
            k += 1
        }
        return bernoulliExpMinusAtMostOne(numerator: numerator - whole * denominator, denominator: denominator, using: random)
    }

    /// γ ∈ [0, 1]: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until the first 0; exp(−γ) is the
    /// probability that this first 0 comes at an odd k.
    private static func bernoulliExpMinusAtMostOne(numerator: UInt128, denominator: UInt128, using random: some CryptoRandomSource) -> Bool {
        var k: UInt128 = 1
        while true {
            let (scaled, overflow) = denominator.multipliedReportingOverflow(by: k)
            precondition(!overflow, "Bernoulli denominator overflow")
            if !bernoulli(numerator: numerator, denominator: scaled, using: random) { break }
            k += 1
        }
        return k % 2 == 1
    }
}

/// Lets a reference-type source serve the standard library's `random(in:using:)`, which
/// implements unbiased bounded integers (Lemire's method with rejection).
struct RandomAdapter<Source: CryptoRandomSource>: RandomNumberGenerator {
    let source: Source
    init(_ source: Source) { self.source = source }
    mutating func next() -> UInt64 { source.nextWord() }
}
