internal import CGMP

/// Expands 256-bit seeds into masks: uniformly random elements of the ring of a
/// ``SlotLayout`` (exactly w·d bits), and adds or subtracts them in place.
///
/// The keystream is written straight into limb buffers and folded into the vector chunk by
/// chunk with `mpn_add_n` / `mpn_sub_n`, carrying between chunks, so a mask of any size costs
/// one cache-resident scratch buffer and runs at close to the AES-CTR rate.
public enum MaskGenerator {
    /// Seeds are 32 bytes.
    public static let seedByteCount = 32
    /// Limbs per chunk: 64 KiB of keystream at a time stays in L2.
    static let chunkLimbs = AESCTRStream.chunkBytes / 8

    /// Overwrites `vector` with the mask expanded from `seed` under `label`.
    public static func expand(seed: [UInt8], label: [UInt8], into vector: inout PackedVector) throws(TallyError) {
        let stream = try AESCTRStream(seed: seed, label: label)
        vector.withUnsafeMutableLimbs { limbs in
            stream.keystream(into: UnsafeMutableRawBufferPointer(limbs))
        }
    }

    /// vector ← vector + mask (mod 2^(w·d)), or − mask when `subtract` is true.
    public static func apply(seed: [UInt8], label: [UInt8], to vector: inout PackedVector, subtract: Bool = false) throws(TallyError) {
        try apply([Term(seed: seed, label: label, subtract: subtract)], to: &vector)
    }

    /// One mask to fold into a vector: its seed, its label, and whether it is added or subtracted.
    public struct Term: Sendable {
        public let seed: [UInt8]
        public let label: [UInt8]
        public let subtract: Bool
        public init(seed: [UInt8], label: [UInt8], subtract: Bool = false) {
            self.seed = seed
            self.label = label
            self.subtract = subtract
        }
    }

    /// vector ← vector ± every mask in `terms`, chunk-major: each 64 KiB slice of the vector
    /// receives all masks while it is in cache, so the vector crosses memory once no matter how
    /// many masks there are. Equivalent to calling ``apply(seed:label:to:subtract:)`` per term.
    public static func apply(_ terms: [Term], to vector: inout PackedVector) throws(TallyError) {
        guard !terms.isEmpty else { return }
        var streams: [AESCTRStream] = []
        streams.reserveCapacity(terms.count)
        for term in terms { streams.append(try AESCTRStream(seed: term.seed, label: term.label)) }
        let subtract = terms.map(\.subtract)
        let scratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: chunkLimbs)
        defer { scratch.deallocate() }
        var carries = [UInt64](repeating: 0, count: terms.count)
        vector.withUnsafeMutableLimbs { limbs in
            let total = limbs.count
            let base = limbs.baseAddress!
            let mask = scratch.baseAddress!
            var offset = 0
            while offset < total {
                let n = min(chunkLimbs, total - offset)
                let dst = base + offset
                for i in streams.indices {
                    streams[i].keystream(into: UnsafeMutableRawBufferPointer(start: mask, count: n * 8))
                    // Each term keeps its own carry chain, exactly as if applied alone.
                    if subtract[i] {
                        let borrowIn = carries[i] == 0 ? 0 : tally_mpn_sub_1(dst, dst, n, carries[i])
                        carries[i] = borrowIn + tally_mpn_sub_n(dst, dst, mask, n)
                    } else {
                        let carryIn = carries[i] == 0 ? 0 : tally_mpn_add_1(dst, dst, n, carries[i])
                        carries[i] = carryIn + tally_mpn_add_n(dst, dst, mask, n)
                    }
                }
                offset += n
            }
        }
    }
}
