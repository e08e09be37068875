internal import CLibCrypto

/// An AES-128-CTR keystream: the pseudorandom generator behind every mask.
///
/// Key and initial counter come from HKDF-SHA256(seed, info: label), so one 256-bit seed yields
/// independent streams for different purposes and sessions (domain separation). AES-128 keeps
/// the 128-bit security level of the rest of the protocol and is the fastest AES-NI mode.
final class AESCTRStream {
    private let context: OpaquePointer

    /// Size of the all-zero block fed to the cipher; the keystream is its encryption.
    static let chunkBytes = 64 * 1024
    nonisolated(unsafe) private static let zeros: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: chunkBytes)
        return p
    }()

    convenience init(seed: [UInt8], label: [UInt8]) throws(TallyError) {
        guard seed.count == 32 else {
            throw TallyError(.invalidArgument, "a PRG seed is 32 bytes, got \(seed.count)")
        }
        var keyAndIV = try HKDF.deriveKey(inputKeyMaterial: seed, info: Array("tally/prg/aes128ctr/v1|".utf8) + label, length: 32)
        defer { OpenSSL.cleanse(&keyAndIV) }
        try self.init(key: Array(keyAndIV[0..<16]), iv: Array(keyAndIV[16..<32]))
    }

    /// Raw AES-128-CTR with an explicit key and IV (known-answer tests, benchmarks).
    init(key: [UInt8], iv: [UInt8]) throws(TallyError) {
        guard key.count == 16, iv.count == 16 else {
            throw TallyError(.invalidArgument, "AES-128-CTR needs a 16-byte key and a 16-byte IV")
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("cipher context") }
        guard EVP_EncryptInit_ex2(ctx, Self.cipher, key, iv, nil) == 1 else {
            EVP_CIPHER_CTX_free(ctx)
            throw OpenSSL.failure("AES-128-CTR init")
        }
        context = ctx
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Fetched once: OpenSSL 3's implicit fetch behind `EVP_aes_128_ctr()` costs microseconds
    /// per context, which shows on masks of a few hundred kilobytes.
    nonisolated(unsafe) private static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-128-CTR", nil) else { fatalError("libcrypto has no AES-128-CTR") }
        return cipher
    }()

    /// Writes the next `out.count` keystream bytes into `out`.
    func keystream(into out: UnsafeMutableRawBufferPointer) {
        guard var dst = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var remaining = out.count
        let zeros = Self.zeros.assumingMemoryBound(to: UInt8.self)
        while remaining > 0 {
            let n = min(remaining, Self.chunkBytes)
            var written: Int32 = 0
            let ok = EVP_EncryptUpdate(context, dst, &written, zeros, Int32(n))
            precondition(ok == 1 && Int(written) == n, "AES-CTR keystream failed: \(OpenSSL.errorString())")
            dst += n
            remaining -= n
        }
    }
}
