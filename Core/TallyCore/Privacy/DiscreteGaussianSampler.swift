/// Exact sampler for the discrete Gaussian N_Z(0, σ²): P[X = x] ∝ exp(−x²/(2σ²)), x ∈ ℤ.
///
/// Canonne, Kamath and Steinke (NeurIPS 2020), Algorithm 3: rejection sampling from a discrete
/// Laplace of scale t = ⌊σ⌋ + 1 (Algorithm 2), with every acceptance test an exact Bernoulli of
/// a rational probability. σ² is a rational number; the sampler is exact for exactly that σ²,
/// which is what the privacy ledger records.
public struct DiscreteGaussianSampler: Sendable, Hashable {
    /// σ² = sigmaSquaredNumerator / sigmaSquaredDenominator.
    public let sigmaSquaredNumerator: UInt64
    public let sigmaSquaredDenominator: UInt64
    /// The discrete Laplace scale t = ⌊σ⌋ + 1.
    let laplaceScale: UInt64

    public init(sigmaSquaredNumerator: UInt64, sigmaSquaredDenominator: UInt64 = 1) throws(TallyError) {
        guard sigmaSquaredNumerator > 0, sigmaSquaredDenominator > 0 else {
            throw TallyError(.invalidArgument, "σ² must be a positive rational")
        }
        // Keep every intermediate of the acceptance test within 128 bits.
        guard sigmaSquaredNumerator <= 1 << 60, sigmaSquaredDenominator <= 1 << 20 else {
            throw TallyError(
                .invalidArgument,
                "σ² = \(sigmaSquaredNumerator)/\(sigmaSquaredDenominator) is outside the supported range (numerator ≤ 2^60, denominator ≤ 2^20)"
            )
        }
        self.sigmaSquaredNumerator = sigmaSquaredNumerator
        self.sigmaSquaredDenominator = sigmaSquaredDenominator
        // ⌊σ⌋ = largest k with k²·den ≤ num.
        var k = UInt64(Double(sigmaSquaredNumerator) / Double(sigmaSquaredDenominator)).squareRootFloor
        while UInt128(k + 1) * UInt128(k + 1) * UInt128(sigmaSquaredDenominator) <= UInt128(sigmaSquaredNumerator) { k += 1 }
        while k > 0 && UInt128(k) * UInt128(k) * UInt128(sigmaSquaredDenominator) > UInt128(sigmaSquaredNumerator) { k -= 1 }
        laplaceScale = k + 1
    }

    /// σ² as a rational with denominator 2^20, rounded up (so the noise is never smaller than asked).
    public init(sigma: Double) throws(TallyError) {
        guard sigma.isFinite, sigma > 0 else { throw TallyError(.invalidArgument, "σ must be positive and finite, got \(sigma)") }
        let denominator: UInt64 = 1 << 20
        let numerator = (sigma * sigma * Double(denominator)).rounded(.up)
        guard numerator <= Double(1 << 60) else { throw TallyError(.invalidArgument, "σ = \(sigma) is too large") }
        try self.init(sigmaSquaredNumerator: UInt64(numerator), sigmaSquaredDenominator: denominator)
    }

    public var sigmaSquared: Double { Double(sigmaSquaredNumerator) / Double(sigmaSquaredDenominator) }

    /// One sample.
    public func sample(using random: some CryptoRandomSource) -> Int64 {
        var words = RandomWords(random, bufferWords: 16)
        return sample(using: &words)
    }

    /// `count` independent samples.
    public func sample(count: Int, using random: some CryptoRandomSource) -> [Int64] {
        var words = RandomWords(random)
        return (0..<count).map { _ in sample(using: &words) }
    }

    /// The inner sampler on a concrete buffered stream.
    func sample(using words: inout RandomWords) -> Int64 {
        let t = UInt128(laplaceScale)
        let num = UInt128(sigmaSquaredNumerator)
        let den = UInt128(sigmaSquaredDenominator)
        let acceptanceDenominator = 2 * t * t * den * num
        while true {
            let y = discreteLaplace(using: &words)
            // γ = (|y| − σ²/t)² / (2σ²) = (|y|·t·den − num)² / (2·t²·den·num)
            let a = UInt128(y.magnitude) * t * den
            let diff = a > num ? a - num : num - a
            let (square, overflow) = diff.multipliedReportingOverflow(by: diff)
            if overflow { continue } // |y| astronomically far in the tail: acceptance prob. < 2^-1000
            if ExactBernoulli.bernoulliExpMinus(numerator: square, denominator: acceptanceDenominator, using: &words) {
                return y
            }
        }
    }

    /// Discrete Laplace with scale t: P[Y = y] ∝ exp(−|y|/t) (CKS Algorithm 2, s = 1).
    func discreteLaplace(using words: inout RandomWords) -> Int64 {
        let t = laplaceScale
        while true {
            let u = words.uniform(below: t)
            guard ExactBernoulli.bernoulliExpMinus(numerator: UInt128(u), denominator: UInt128(t), using: &words) else { continue }
            var v: UInt64 = 0
            while ExactBernoulli.bernoulliExpMinusOne(using: &words) { v += 1 }
            let x = u + t * v
            let negative = words.next() & 1 == 1
            if negative && x == 0 { continue }
            return negative ? -Int64(x) : Int64(x)
        }
    }
}

extension UInt64 {
    /// ⌊√self⌋ (within one; callers correct exactly).
    var squareRootFloor: UInt64 { UInt64(Double(self).squareRoot()) }
}
