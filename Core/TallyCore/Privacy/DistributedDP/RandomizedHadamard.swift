/// A random rotation x ↦ H·D·x/√d with H the d×d Walsh–Hadamard matrix and D a diagonal of random
/// signs, shared by everyone in a round (the signs come from a public per-round seed).
///
/// Why: after clipping, a participant's update may put all its norm into a few coordinates. The
/// rotation spreads it, so every coordinate is at most k·‖x‖/√d with probability 1 − 2e^{−k²/2}
/// (Hoeffding over the signs), which lets the integer grid be √d/k times finer for the same
/// number of bits. It is orthonormal, so ℓ2 norms (and hence the DP sensitivity) are unchanged and
/// isotropic noise stays isotropic after the coordinator rotates back. Cost: O(d log d).
public struct RandomizedHadamard: Sendable, Hashable {
    /// A power of two.
    public let dimension: Int
    let signs: [Double]

    /// The smallest power of two ≥ `count` (the rotation pads with zeros up to it).
    public static func paddedDimension(_ count: Int) -> Int {
        var d = 1
        while d < count { d <<= 1 }
        return d
    }

    public init(dimension: Int, seed: [UInt8]) throws(TallyError) {
        guard dimension >= 1, dimension & (dimension - 1) == 0 else {
            throw TallyError(.invalidArgument, "a Hadamard rotation needs a power-of-two dimension, got \(dimension)")
        }
        guard seed.count == 32 else { throw TallyError(.invalidArgument, "the rotation seed is 32 bytes, got \(seed.count)") }
        let random = SeededRandom(seed: seed, label: "tally/dp/rotation-signs/v1")
        var signs = [Double](repeating: 1, count: dimension)
        var word: UInt64 = 0
        for i in 0..<dimension {
            if i & 63 == 0 { word = random.nextWord() }
            if word & 1 == 1 { signs[i] = -1 }
            word >>= 1
        }
        self.dimension = dimension
        self.signs = signs
    }

    /// x ← H·D·x/√d.
    public func rotate(_ x: inout [Double]) {
        precondition(x.count == dimension, "rotation of a vector of the wrong size")
        for i in 0..<dimension { x[i] *= signs[i] }
        Self.walshHadamard(&x)
    }

    /// y ← D·H·y/√d, the inverse (H/√d is symmetric and orthonormal).
    public func unrotate(_ y: inout [Double]) {
        precondition(y.count == dimension, "rotation of a vector of the wrong size")
        Self.walshHadamard(&y)
        for i in 0..<dimension { y[i] *= signs[i] }
    }

    /// The fast Walsh–Hadamard transform, normalized by 1/√d, in place.
    static func walshHadamard(_ x: inout [Double]) {
        let n = x.count
        x.withUnsafeMutableBufferPointer { v in
            var h = 1
            while h < n {
                var i = 0
                while i < n {
                    for j in i..<(i + h) {
                        let a = v[j], b = v[j + h]
                        v[j] = a + b
                        v[j + h] = a - b
                    }
                    i += h << 1
                }
                h <<= 1
            }
            let norm = 1 / Double(n).squareRoot()
            for i in 0..<n { v[i] *= norm }
        }
    }
}
