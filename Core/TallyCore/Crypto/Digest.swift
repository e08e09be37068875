internal import CLibCrypto

/// SHA-256 (libcrypto one-shot).
public enum SHA256Digest {
    public static let byteCount = 32

    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(data)
        var out = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &out, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "SHA-256 failed: \(OpenSSL.errorString())")
        return out
    }
}

/// HKDF-SHA256 (RFC 5869) through libcrypto's EVP_PKEY HKDF.
public enum HKDF {
    /// Derives `length` bytes from input keying material, an optional salt and a context label
    /// (`info`). Every derived key in Tally carries a label naming its purpose and session.
    public static func deriveKey(
        inputKeyMaterial ikm: [UInt8], salt: [UInt8] = [], info: [UInt8], length: Int
    ) throws(TallyError) -> [UInt8] {
        guard length > 0, length <= 255 * 32 else {
            throw TallyError(.invalidArgument, "HKDF-SHA256 output must be 1...\(255 * 32) bytes, got \(length)")
        }
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw OpenSSL.failure("HKDF context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try OpenSSL.check(EVP_PKEY_derive_init(ctx), "HKDF init")
        try OpenSSL.check(EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()), "HKDF digest")
        // An empty salt means "HashLen zeros" per RFC 5869; libcrypto needs a non-null pointer.
        let saltBytes = salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt
        try OpenSSL.check(EVP_PKEY_CTX_set1_hkdf_salt(ctx, saltBytes, Int32(saltBytes.count)), "HKDF salt")
        try OpenSSL.check(EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm, Int32(ikm.count)), "HKDF key")
        if !info.isEmpty {
            try OpenSSL.check(EVP_PKEY_CTX_add1_hkdf_info(ctx, info, Int32(info.count)), "HKDF info")
        }
        var out = [UInt8](repeating: 0, count: length)
        var outLength = length
        try OpenSSL.check(EVP_PKEY_derive(ctx, &out, &outLength), "HKDF derive")
        return out
    }
}
