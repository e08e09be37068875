internal import CLibCrypto

/// A signing key of the kinds federation certificates carry: ECDSA P-256 (signatures over
/// SHA-256, DER-encoded) or Ed25519.
public struct SigningPrivateKey: Sendable {
    let key: EVPKey

    public enum Algorithm: String, Sendable { case ecdsaP256 = "ecdsa-p256", ed25519 }

    public init(generating algorithm: Algorithm = .ecdsaP256) throws(TallyError) {
        key = try EVPKey.generate(type: algorithm == .ecdsaP256 ? EVP_PKEY_EC : EVP_PKEY_ED25519)
        _ = try Self.algorithm(of: key)
    }

    /// Loads a PEM private key (PKCS#8 or traditional), e.g. a participant's key file.
    public init(pem: String) throws(TallyError) {
        key = try EVPKey.fromPEM(pem, isPrivate: true)
        _ = try Self.algorithm(of: key)
    }

    public var algorithm: Algorithm { try! Self.algorithm(of: key) }

    public var publicKey: SigningPublicKey { SigningPublicKey(key: key) }

    /// PKCS#8 PEM of the private key (for scripts and tests; never logged).
    public func pemRepresentation() throws(TallyError) -> String {
        try key.toPEM(isPrivate: true)
    }

    public func signature(for message: [UInt8]) throws(TallyError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw OpenSSL.failure("digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = algorithm == .ecdsaP256 ? EVP_sha256() : nil
        try OpenSSL.check(EVP_DigestSignInit(ctx, nil, md, nil, key.pointer), "sign init")
        var length = 0
        try OpenSSL.check(EVP_DigestSign(ctx, nil, &length, message, message.count), "signature size")
        var out = [UInt8](repeating: 0, count: length)
        try OpenSSL.check(EVP_DigestSign(ctx, &out, &length, message, message.count), "sign")
        return Array(out.prefix(length))
    }

    static func algorithm(of key: EVPKey) throws(TallyError) -> Algorithm {
        if EVP_PKEY_is_a(key.pointer, "ED25519") == 1 { return .ed25519 }
        if EVP_PKEY_is_a(key.pointer, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var n = 0
            if EVP_PKEY_get_utf8_string_param(key.pointer, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &n) == 1,
                String(decoding: name.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "prime256v1"
            {
                return .ecdsaP256
            }
        }
        throw TallyError(.malformedKey, "unsupported key type: federation keys are ECDSA P-256 or Ed25519")
    }
}

/// A verification key: from a certificate (SubjectPublicKeyInfo DER or PEM) or a private key.
public struct SigningPublicKey: Sendable {
    let key: EVPKey

    init(key: EVPKey) { self.key = key }

    /// DER SubjectPublicKeyInfo, as found in an X.509 certificate.
    public init(derRepresentation der: [UInt8]) throws(TallyError) {
        var cursor: UnsafePointer<UInt8>? = nil
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            cursor = buf.baseAddress
            return d2i_PUBKEY(nil, &cursor, buf.count)
        }
        guard let parsed else {
            ERR_clear_error()
            throw TallyError(.malformedKey, "not a DER SubjectPublicKeyInfo")
        }
        key = EVPKey(parsed)
        _ = try SigningPrivateKey.algorithm(of: key)
    }

    public init(pem: String) throws(TallyError) {
        key = try EVPKey.fromPEM(pem, isPrivate: false)
        _ = try SigningPrivateKey.algorithm(of: key)
    }

    /// DER SubjectPublicKeyInfo.
    public var derRepresentation: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_PUBKEY(key.pointer, &out)
        precondition(n > 0, "public key encoding failed")
        defer { tally_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    public var algorithm: SigningPrivateKey.Algorithm { try! SigningPrivateKey.algorithm(of: key) }

    /// Throws `bad-signature` unless `signature` is valid for `message` under this key.
    public func verify(_ signature: [UInt8], for message: [UInt8]) throws(TallyError) {
        guard let ctx = EVP_MD_CTX_new() else { throw OpenSSL.failure("digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = algorithm == .ecdsaP256 ? EVP_sha256() : nil
        try OpenSSL.check(EVP_DigestVerifyInit(ctx, nil, md, nil, key.pointer), "verify init")
        let result = EVP_DigestVerify(ctx, signature, signature.count, message, message.count)
        guard result == 1 else {
            ERR_clear_error()
            throw TallyError(.badSignature, "signature does not verify")
        }
    }
}

extension EVPKey {
    static func fromPEM(_ pem: String, isPrivate: Bool) throws(TallyError) -> EVPKey {
        let bytes = Array(pem.utf8)
        // The BIO reads `bytes` in place, after the call that made it: they must outlive it.
        defer { withExtendedLifetime(bytes) {} }
        guard let bio = BIO_new_mem_buf(bytes, Int32(bytes.count)) else { throw OpenSSL.failure("PEM buffer") }
        defer { BIO_free(bio) }
        let key = isPrivate ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        guard let key else {
            ERR_clear_error()
            throw TallyError(.malformedKey, "not a PEM \(isPrivate ? "private" : "public") key")
        }
        return EVPKey(key)
    }

    func toPEM(isPrivate: Bool) throws(TallyError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSL.failure("PEM buffer") }
        defer { BIO_free(bio) }
        let ok = isPrivate ? PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) : PEM_write_bio_PUBKEY(bio, pointer)
        try OpenSSL.check(ok, "PEM encode")
        var data: UnsafeMutablePointer<CChar>? = nil
        let n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data)
        guard n > 0, let data else { throw OpenSSL.failure("PEM read-back") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    }
}
