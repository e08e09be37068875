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
        let stream = try AESCTRStream(seed: seed, label: label)
        let scratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: chunkLimbs)
        defer { scratch.deallocate() }
        vector.withUnsafeMutableLimbs { limbs in
            let total = limbs.count
            let base = limbs.baseAddress!
            let mask = scratch.baseAddress!
            var offset = 0
            var carry: UInt64 = 0
            while offset < total {
                let n = min(chunkLimbs, total - offset)
                stream.keystream(into: UnsafeMutableRawBufferPointer(start: mask, count: n * 8))
                let dst = base + offset
                // Fold the previous chunk's carry (or borrow) in first. If it wraps this chunk
                // to zero, the chunk op below cannot produce another, so carry stays ≤ 1.
                if subtract {
                    let borrowIn = carry == 0 ? 0 : tally_mpn_sub_1(dst, dst, n, carry)
                    carry = borrowIn + tally_mpn_sub_n(dst, dst, mask, n)
                } else {
                    let carryIn = carry == 0 ? 0 : tally_mpn_add_1(dst, dst, n, carry)
                    carry = carryIn + tally_mpn_add_n(dst, dst, mask, n)
                }
                offset += n
            }
            // The final carry is 2^(64·L), which is 0 mod 2^(w·d); the top limb is re-masked.
        }
    }
}
