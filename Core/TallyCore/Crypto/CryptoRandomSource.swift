internal import CLibCrypto

/// A cryptographically secure source of random bits.
///
/// Sources are reference types so that a copy can never replay the same bytes.
public protocol CryptoRandomSource: AnyObject, RandomNumberGenerator {
    /// Fills `buffer` with random bytes.
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension CryptoRandomSource {
    /// The next 64 random bits (a reference-type source needs no `inout` to advance).
    @inline(__always)
    public func nextWord() -> UInt64 {
        var source = self
        return source.next()
    }

    public func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }
}

/// The operating system's randomness through OpenSSL's DRBG (seeded from getrandom), buffered
/// so that drawing single words for the samplers stays cheap. Production code uses only this.
public final class SystemRandom: CryptoRandomSource {
    private var buffer = [UInt64](repeating: 0, count: 512)
    private var index = 512

    public init() {}

    public func fill(_ out: UnsafeMutableRawBufferPointer) {
        guard let base = out.baseAddress, out.count > 0 else { return }
        var offset = 0
        while offset < out.count {
            let chunk = min(out.count - offset, Int(Int32.max))
            precondition(
                RAND_bytes(base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(chunk)) == 1,
                "the operating system's random generator failed: \(OpenSSL.errorString())")
            offset += chunk
        }
    }

    public func next() -> UInt64 {
        if index == buffer.count {
            buffer.withUnsafeMutableBytes { fill($0) }
            index = 0
        }
        defer { index += 1 }
        return buffer[index]
    }

    deinit {
        buffer.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }
}

/// A deterministic AES-128-CTR stream from a 32-byte seed. With a fixed seed: reproducible
/// tests and simulations. Seeded with 32 fresh bytes from ``SystemRandom`` it is a fast CSPRNG
/// for bulk sampling (the DP encoder's noise) — never seed it from anything guessable.
public final class SeededRandom: CryptoRandomSource {
    private let stream: AESCTRStream
    private var buffer = [UInt64](repeating: 0, count: 512)
    private var index = 512

    public init(seed: [UInt8], label: String = "tally/seeded-random/v1") {
        precondition(seed.count == 32, "a SeededRandom seed is 32 bytes")
        stream = try! AESCTRStream(seed: seed, label: Array(label.utf8))
    }

    /// Convenience for tests: a seed from a small integer.
    public convenience init(testSeed: UInt64) {
        var seed = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: testSeed.littleEndian) { seed.replaceSubrange(0..<8, with: $0) }
        self.init(seed: seed)
    }

    public func fill(_ out: UnsafeMutableRawBufferPointer) {
        stream.keystream(into: out)
    }

    public func next() -> UInt64 {
        if index == buffer.count {
            buffer.withUnsafeMutableBytes { stream.keystream(into: $0) }
            index = 0
        }
        defer { index += 1 }
        return buffer[index]
    }
}
