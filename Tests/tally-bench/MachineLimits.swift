import CGMP
import CLibCrypto

/// The machine's own limits, measured with the raw C libraries and nothing of Tally's in the
/// way: what our wrappers are judged against.
enum MachineLimits {
    /// Raw EVP AES-128-CTR: seconds to produce `bytes` of keystream into `out`, in 64 KiB calls
    /// over an all-zero input (as OpenSSL's own `speed` does).
    static func aesCTRSeconds(into out: UnsafeMutableRawBufferPointer, repetitions: Int = 5) -> Double {
        let key = [UInt8](repeating: 0x2b, count: 16), iv = [UInt8](repeating: 0xf0, count: 16)
        let ctx = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(ctx) }
        precondition(EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nil, key, iv) == 1)
        let chunk = 64 * 1024
        let zeros = [UInt8](repeating: 0, count: chunk)
        return zeros.withUnsafeBufferPointer { z in
            Measure.best(repetitions: repetitions) {
                var offset = 0
                let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                while offset < out.count {
                    let n = min(chunk, out.count - offset)
                    var written: Int32 = 0
                    _ = EVP_EncryptUpdate(ctx, base + offset, &written, z.baseAddress, Int32(n))
                    offset += n
                }
            }
        }
    }

    /// Raw `mpn_add_n` over two limb buffers of `limbs` limbs, in place into the first.
    static func mpnAddSeconds(limbs: Int, repetitions: Int = 5) -> Double {
        var a = [UInt64](repeating: 0x0123_4567_89ab_cdef, count: limbs)
        let b = [UInt64](repeating: 0xfedc_ba98_7654_3210, count: limbs)
        return a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                Measure.best(repetitions: repetitions) {
                    _ = tally_mpn_add_n(pa.baseAddress, pa.baseAddress, pb.baseAddress, limbs)
                }
            }
        }
    }
}
