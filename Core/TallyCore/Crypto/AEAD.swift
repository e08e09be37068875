internal import CLibCrypto

/// AES-256-GCM with associated data. Sealed form: nonce (12) ‖ ciphertext ‖ tag (16).
///
/// Tally binds the session id, sender and recipient into the associated data, so a ciphertext
/// moved to another round or another recipient fails to open.
public enum AES256GCM {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16
    public static let overhead = nonceByteCount + tagByteCount

    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8], random: some CryptoRandomSource = SystemRandom())
        throws(TallyError) -> [UInt8]
    {
        guard key.count == keyByteCount else { throw TallyError(.invalidArgument, "AES-256-GCM key is 32 bytes") }
        let nonce = random.bytes(nonceByteCount)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("cipher context") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        try OpenSSL.check(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce), "GCM init")
        var n: Int32 = 0
        if !associatedData.isEmpty {
            try OpenSSL.check(EVP_EncryptUpdate(ctx, nil, &n, associatedData, Int32(associatedData.count)), "GCM associated data")
        }
        var out = nonce + [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        try out.withUnsafeMutableBufferPointer { (buf) throws(TallyError) in
            let body = buf.baseAddress! + nonceByteCount
            if !plaintext.isEmpty {
                try OpenSSL.check(EVP_EncryptUpdate(ctx, body, &n, plaintext, Int32(plaintext.count)), "GCM encrypt")
            }
            try OpenSSL.check(EVP_EncryptFinal_ex(ctx, body + plaintext.count, &n), "GCM final")
            try OpenSSL.check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount), body + plaintext.count), "GCM tag")
        }
        return out
    }

    public static func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8]) throws(TallyError) -> [UInt8] {
        guard key.count == keyByteCount else { throw TallyError(.invalidArgument, "AES-256-GCM key is 32 bytes") }
        guard sealed.count >= overhead else {
            throw TallyError(.authenticationFailed, "ciphertext of \(sealed.count) bytes is shorter than nonce and tag")
        }
        let bodyCount = sealed.count - overhead
        guard let ctx = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("cipher context") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        // One spare byte so the buffer is never empty (GCM's final call writes nothing).
        var plaintext = [UInt8](repeating: 0, count: bodyCount + 1)
        let ok: Bool = sealed.withUnsafeBufferPointer { input in
            let nonce = input.baseAddress!
            let body = nonce + nonceByteCount
            let tag = UnsafeMutablePointer(mutating: body + bodyCount)
            var n: Int32 = 0
            guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { return false }
            if !associatedData.isEmpty,
                EVP_DecryptUpdate(ctx, nil, &n, associatedData, Int32(associatedData.count)) != 1
            {
                return false
            }
            let decrypted = plaintext.withUnsafeMutableBufferPointer { out in
                bodyCount == 0 || EVP_DecryptUpdate(ctx, out.baseAddress, &n, body, Int32(bodyCount)) == 1
            }
            guard decrypted, EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), tag) == 1 else { return false }
            return plaintext.withUnsafeMutableBufferPointer { out in
                EVP_DecryptFinal_ex(ctx, out.baseAddress! + bodyCount, &n) == 1
            }
        }
        guard ok else {
            ERR_clear_error()
            OpenSSL.cleanse(&plaintext)
            throw TallyError(.authenticationFailed, "ciphertext failed authentication (tampered, wrong key or wrong associated data)")
        }
        plaintext.removeLast()
        return plaintext
    }
}
