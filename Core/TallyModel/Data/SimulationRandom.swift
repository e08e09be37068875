#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64: a small, fast, fully
/// specified generator for reproducible simulation — data partitions and SGD shuffling —
/// where the same seed must give the same run on every platform and toolchain.
///
/// NOT cryptographic and never used for privacy noise or masks; those use
/// ``CryptoRandomSource``. Shuffling and bounded integers are implemented here rather than via
/// the standard library, whose algorithms may change between Swift releases.
struct SimulationRandom: RandomNumberGenerator {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func unitInterval() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in (0, 1): safe to take the logarithm of.
    mutating func openUnitInterval() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }

    /// Uniform in 0 ..< bound without modulo bias (Lemire's multiply-and-reject).
    mutating func uniform(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Fisher–Yates shuffle.
    mutating func shuffle<T>(_ array: inout [T]) {
        var i = array.count - 1
        while i > 0 {
            let j = uniform(below: i + 1)
            array.swapAt(i, j)
            i -= 1
        }
    }

    /// A standard normal deviate (Marsaglia's polar method).
    mutating func standardNormal() -> Double {
        while true {
            let u = 2 * unitInterval() - 1, v = 2 * unitInterval() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 { return u * (-2 * log(s) / s).squareRoot() }
        }
    }

    /// The logarithm of a Gamma(shape, 1) deviate, by Marsaglia & Tsang (2000).
    ///
    /// Returned as a logarithm because for small shapes (α ≪ 1, the strongly non-IID end of a
    /// Dirichlet partition) the deviate itself routinely underflows to 0; the boost
    /// Gamma(α) = Gamma(α + 1) · U^(1/α) is applied in log space.
    mutating func logGamma(shape: Double) -> Double {
        precondition(shape > 0 && shape.isFinite)
        if shape < 1 {
            return logGamma(shape: shape + 1) + log(openUnitInterval()) / shape
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = standardNormal()
            let t = 1 + c * x
            guard t > 0 else { continue }
            let v = t * t * t
            let u = openUnitInterval()
            if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return log(d * v) }
        }
    }
}
