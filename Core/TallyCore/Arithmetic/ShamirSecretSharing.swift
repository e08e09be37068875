internal import CGMP

/// One share of a Shamir-shared secret: the point (x, f(x)) on the sharing polynomial.
public struct ShamirShare: Hashable, Sendable {
    /// The evaluation point, 1...n (never 0: f(0) is the secret).
    public let x: UInt32
    /// f(x) mod p, 33 bytes big-endian.
    public let y: [UInt8]

    public init(x: UInt32, y: [UInt8]) {
        self.x = x
        self.y = y
    }

    /// Whether y is a field element (33 bytes, below p), checkable before any interpolation.
    public var isFieldElement: Bool {
        y.count == PrimeField.elementByteCount && y.lexicographicallyPrecedes(PrimeField.primeBytes)
    }
}

/// t-of-n Shamir secret sharing of 256-bit secrets over the prime field of p = 2^256 + 297.
///
/// Any t shares reconstruct the secret; any t − 1 shares are independent of it.
public struct ShamirSecretSharing: Sendable {
    public let threshold: Int
    public let shareCount: Int

    /// Secrets are at most this many bytes (they are < 2^256 < p).
    public static let secretByteCount = 32
    /// Most shares a scheme may issue; x-coordinates are UInt32 but protocol sizes stay small.
    public static let maxShareCount = 1 << 16

    public init(threshold: Int, shareCount: Int) throws(TallyError) {
        guard shareCount >= 1, shareCount <= Self.maxShareCount else {
            throw TallyError(.invalidArgument, "share count must be 1...\(Self.maxShareCount), got \(shareCount)")
        }
        guard threshold >= 1, threshold <= shareCount else {
            throw TallyError(.invalidArgument, "threshold must be 1...\(shareCount), got \(threshold)")
        }
        self.threshold = threshold
        self.shareCount = shareCount
    }

    /// Splits a secret of exactly 32 bytes into `shareCount` shares at x = 1...n.
    public func split(secret: [UInt8], using random: some CryptoRandomSource) throws(TallyError) -> [ShamirShare] {
        try split(secret: secret, at: (1...shareCount).map { UInt32($0) }, using: random)
    }

    /// Splits a secret and evaluates only the shares at `points` (each in 1...n): with a sparse
    /// neighbour graph a participant's secret is held by its neighbourhood, not the whole cohort.
    public func split(secret: [UInt8], at points: [UInt32], using random: some CryptoRandomSource) throws(TallyError) -> [ShamirShare] {
        guard points.allSatisfy({ $0 >= 1 && $0 <= UInt32(shareCount) }) else {
            throw TallyError(.invalidArgument, "share points must be in 1...\(shareCount)")
        }
        guard secret.count == Self.secretByteCount else {
            throw TallyError(.invalidArgument, "a Shamir secret is \(Self.secretByteCount) bytes, got \(secret.count)")
        }
        let p = PrimeField.prime()
        // f(x) = secret + a1·x + … + a(t−1)·x^(t−1); coefficients uniform mod p (48 random
        // bytes reduced mod p: bias below 2^-128).
        var coefficients = [GMPInteger(bigEndian: secret)]
        for _ in 1..<threshold {
            var wide = [UInt8](repeating: 0, count: 48)
            wide.withUnsafeMutableBytes { random.fill($0) }
            let c = GMPInteger(bigEndian: wide)
            __gmpz_mod(c.pointer, c.pointer, p.pointer)
            wide.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            coefficients.append(c)
        }
        let acc = GMPInteger()
        var shares: [ShamirShare] = []
        shares.reserveCapacity(points.count)
        for x in points {
            // Horner's rule from the top coefficient down.
            __gmpz_set_ui(acc.pointer, 0)
            for c in coefficients.reversed() {
                __gmpz_mul_ui(acc.pointer, acc.pointer, UInt(x))
                __gmpz_add(acc.pointer, acc.pointer, c.pointer)
                __gmpz_mod(acc.pointer, acc.pointer, p.pointer)
            }
            shares.append(ShamirShare(x: x, y: acc.bigEndianBytes(length: PrimeField.elementByteCount)))
        }
        for c in coefficients { __gmpz_set_ui(c.pointer, 0) }
        return shares
    }

    /// Reconstructs the 32-byte secret from at least `threshold` distinct shares.
    public func reconstruct(_ shares: [ShamirShare]) throws(TallyError) -> [UInt8] {
        let chosen = try validated(shares)
        let lagrange = try LagrangeCoefficients(at: chosen.map(\.x))
        return try lagrange.interpolateSecret(ys: chosen.map(\.y))
    }

    /// Checks shares and picks the first `threshold` of them.
    func validated(_ shares: [ShamirShare]) throws(TallyError) -> [ShamirShare] {
        var seen = Set<UInt32>()
        for share in shares {
            guard share.x >= 1, share.x <= UInt32(shareCount) else {
                throw TallyError(.malformedShare, "share x = \(share.x) is outside 1...\(shareCount)")
            }
            guard seen.insert(share.x).inserted else {
                throw TallyError(.duplicateShare, "two shares for x = \(share.x); each x may appear once")
            }
        }
        guard shares.count >= threshold else {
            throw TallyError(.tooFewShares, "need \(threshold) shares to reconstruct, got \(shares.count)")
        }
        return Array(shares.prefix(threshold))
    }
}

/// Lagrange basis coefficients λ_i = Π_{j≠i} x_j / (x_j − x_i) mod p for interpolating at 0.
///
/// They depend only on which x-coordinates are present, so when many secrets are reconstructed
/// from the same set of holders (the usual case after a round) they are computed once.
public struct LagrangeCoefficients: @unchecked Sendable {
    // Immutable after init; `GMPInteger` values are never mutated after construction and GMP
    // reads of an mpz are thread-safe, hence the unchecked conformance.
    private let coefficients: [GMPInteger]
    public let xs: [UInt32]

    public init(at xs: [UInt32]) throws(TallyError) {
        guard !xs.isEmpty else { throw TallyError(.tooFewShares, "no shares to interpolate") }
        guard Set(xs).count == xs.count else {
            throw TallyError(.duplicateShare, "duplicate x-coordinates in interpolation set")
        }
        guard !xs.contains(0) else { throw TallyError(.malformedShare, "x = 0 is the secret, not a share") }
        let p = PrimeField.prime()
        let numerator = GMPInteger()
        let denominator = GMPInteger()
        let term = GMPInteger()
        var result: [GMPInteger] = []
        result.reserveCapacity(xs.count)
        for (i, xi) in xs.enumerated() {
            __gmpz_set_ui(numerator.pointer, 1)
            __gmpz_set_ui(denominator.pointer, 1)
            for (j, xj) in xs.enumerated() where j != i {
                __gmpz_mul_ui(numerator.pointer, numerator.pointer, UInt(xj))
                __gmpz_mod(numerator.pointer, numerator.pointer, p.pointer)
                // (x_j − x_i) mod p, kept non-negative.
                __gmpz_set_si(term.pointer, Int(xj) - Int(xi))
                __gmpz_mul(denominator.pointer, denominator.pointer, term.pointer)
                __gmpz_mod(denominator.pointer, denominator.pointer, p.pointer)
            }
            let lambda = GMPInteger()
            guard __gmpz_invert(lambda.pointer, denominator.pointer, p.pointer) != 0 else {
                throw TallyError(.malformedShare, "interpolation points are not invertible mod p")
            }
            __gmpz_mul(lambda.pointer, lambda.pointer, numerator.pointer)
            __gmpz_mod(lambda.pointer, lambda.pointer, p.pointer)
            result.append(lambda)
        }
        self.coefficients = result
        self.xs = xs
    }

    /// Σ λ_i · y_i mod p as 32 bytes; errors if a y is not a field element or the result is
    /// not a 256-bit value (which means the shares were not of one secret).
    public func interpolateSecret(ys: [[UInt8]]) throws(TallyError) -> [UInt8] {
        guard ys.count == coefficients.count else {
            throw TallyError(.sizeMismatch, "\(coefficients.count) interpolation points but \(ys.count) values")
        }
        let p = PrimeField.prime()
        let acc = GMPInteger()
        let product = GMPInteger()
        for (lambda, yBytes) in zip(coefficients, ys) {
            guard yBytes.count == PrimeField.elementByteCount else {
                throw TallyError(.malformedShare, "a share value is \(PrimeField.elementByteCount) bytes, got \(yBytes.count)")
            }
            let y = GMPInteger(bigEndian: yBytes)
            guard y.compare(p) < 0 else { throw TallyError(.malformedShare, "share value is not below the field prime") }
            __gmpz_mul(product.pointer, lambda.pointer, y.pointer)
            __gmpz_add(acc.pointer, acc.pointer, product.pointer)
        }
        __gmpz_mod(acc.pointer, acc.pointer, p.pointer)
        guard __gmpz_sizeinbase(acc.pointer, 2) <= 256 else {
            throw TallyError(.malformedShare, "shares do not interpolate to a 256-bit secret (inconsistent or tampered shares)")
        }
        return acc.bigEndianBytes(length: ShamirSecretSharing.secretByteCount)
    }
}
