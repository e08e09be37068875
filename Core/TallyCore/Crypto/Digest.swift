internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

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

/// HKDF-SHA256 (RFC 5869) through libcrypto's EVP_KDF, with the algorithm fetched once.
public enum HKDF {
    nonisolated(unsafe) private static let kdf: OpaquePointer = {
        guard let kdf = EVP_KDF_fetch(nil, "HKDF", nil) else { fatalError("libcrypto has no HKDF") }
        return kdf
    }()

    /// OSSL_PARAM keeps the key pointers it is given, so they must outlive the call: C strings
    /// allocated once, never freed.
    nonisolated(unsafe) private static let names:
        (
            digest: UnsafeMutablePointer<CChar>, salt: UnsafeMutablePointer<CChar>,
            key: UnsafeMutablePointer<CChar>, info: UnsafeMutablePointer<CChar>
        ) =
            (strdup("digest")!, strdup("salt")!, strdup("key")!, strdup("info")!)

    /// Derives `length` bytes from input keying material, an optional salt and a context label
    /// (`info`). Every derived key in Tally carries a label naming its purpose and session.
    public static func deriveKey(
        inputKeyMaterial ikm: [UInt8], salt: [UInt8] = [], info: [UInt8], length: Int
    ) throws(TallyError) -> [UInt8] {
        guard length > 0, length <= 255 * 32 else {
            throw TallyError(.invalidArgument, "HKDF-SHA256 output must be 1...\(255 * 32) bytes, got \(length)")
        }
        guard let ctx = EVP_KDF_CTX_new(kdf) else { throw OpenSSL.failure("HKDF context") }
        defer { EVP_KDF_CTX_free(ctx) }
        // An empty salt means "HashLen zeros" per RFC 5869.
        var saltBytes = salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt
        var key = ikm.isEmpty ? [0] : ikm
        let keyLength = ikm.count
        var infoBytes = info.isEmpty ? [0] : info
        let infoLength = info.count
        var digest = Array("SHA256".utf8CString)
        var out = [UInt8](repeating: 0, count: length)
        let ok = digest.withUnsafeMutableBufferPointer { d in
            saltBytes.withUnsafeMutableBytes { s in
                key.withUnsafeMutableBytes { k in
                    infoBytes.withUnsafeMutableBytes { i in
                        var params = [
                            OSSL_PARAM_construct_utf8_string(Self.names.digest, d.baseAddress, 0),
                            OSSL_PARAM_construct_octet_string(Self.names.salt, s.baseAddress, s.count),
                            OSSL_PARAM_construct_octet_string(Self.names.key, k.baseAddress, keyLength),
                            OSSL_PARAM_construct_octet_string(Self.names.info, i.baseAddress, infoLength),
                            OSSL_PARAM_construct_end(),
                        ]
                        return EVP_KDF_derive(ctx, &out, length, &params)
                    }
                }
            }
        }
        OpenSSL.cleanse(&key)
        try OpenSSL.check(ok, "HKDF derive")
        return out
    }
}
