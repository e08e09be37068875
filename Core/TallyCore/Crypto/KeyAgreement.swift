internal import CLibCrypto

/// An owned `EVP_PKEY`. Immutable after creation; OpenSSL 3 allows concurrent use of one key
/// by operations that each create their own context, which is all Tally does.
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    static func generate(type: Int32) throws(TallyError) -> EVPKey {
        guard let ctx = EVP_PKEY_CTX_new_id(type, nil) else { throw OpenSSL.failure("key generation context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try OpenSSL.check(EVP_PKEY_keygen_init(ctx), "key generation init")
        if type == EVP_PKEY_EC {
            try OpenSSL.check(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1), "P-256 parameters")
        }
        var key: OpaquePointer?
        try OpenSSL.check(EVP_PKEY_keygen(ctx, &key), "key generation")
        return EVPKey(key!)
    }

    func rawPublicKey(length: Int) throws(TallyError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var n = length
        try OpenSSL.check(EVP_PKEY_get_raw_public_key(pointer, &out, &n), "public key export")
        guard n == length else { throw TallyError(.malformedKey, "unexpected public key length \(n)") }
        return out
    }
}

/// An X25519 key pair for one round: pairwise mask seeds and share-encryption keys are
/// agreed with it. Fresh per round, so a key compromised later reveals nothing earlier.
public struct KeyAgreementPrivateKey: Sendable {
    let key: EVPKey

    public static let byteCount = 32

    /// A fresh key from the OS generator.
    public init() throws(TallyError) {
        key = try EVPKey.generate(type: EVP_PKEY_X25519)
    }

    /// Rebuilds a key from its 32 raw bytes (e.g. reconstructed from Shamir shares).
    public init(rawRepresentation bytes: [UInt8]) throws(TallyError) {
        guard bytes.count == Self.byteCount,
            let k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, bytes, bytes.count)
        else {
            throw TallyError(.malformedKey, "an X25519 private key is 32 bytes")
        }
        key = EVPKey(k)
    }

    /// The 32 raw private bytes. Secret: only ever Shamir-shared, never logged.
    public var rawRepresentation: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        var n = out.count
        precondition(EVP_PKEY_get_raw_private_key(key.pointer, &out, &n) == 1 && n == 32)
        return out
    }

    public var publicKey: KeyAgreementPublicKey {
        KeyAgreementPublicKey(uncheckedBytes: try! key.rawPublicKey(length: 32))
    }

    /// X25519 with `peer`, then HKDF-SHA256 with `context` as info: the raw shared secret is
    /// never returned, only a key bound to its purpose and session.
    public func sharedKey(with peer: KeyAgreementPublicKey, context: [UInt8], length: Int = 32) throws(TallyError) -> [UInt8] {
        let peerKey = try peer.evpKey()
        guard let ctx = EVP_PKEY_CTX_new(key.pointer, nil) else { throw OpenSSL.failure("key agreement context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try OpenSSL.check(EVP_PKEY_derive_init(ctx), "key agreement init")
        try OpenSSL.check(EVP_PKEY_derive_set_peer(ctx, peerKey.pointer), "key agreement peer")
        var secret = [UInt8](repeating: 0, count: 32)
        var n = secret.count
        try OpenSSL.check(EVP_PKEY_derive(ctx, &secret, &n), "X25519")
        defer { OpenSSL.cleanse(&secret) }
        // A low-order peer point yields the all-zero secret; refuse it (RFC 7748 §6.1).
        guard n == 32, secret.contains(where: { $0 != 0 }) else {
            throw TallyError(.malformedKey, "peer public key is a low-order point")
        }
        return try HKDF.deriveKey(inputKeyMaterial: secret, info: Array("tally/x25519/v1|".utf8) + context, length: length)
    }
}

/// The public half of a ``KeyAgreementPrivateKey``: 32 bytes.
public struct KeyAgreementPublicKey: Hashable, Sendable {
    public let rawRepresentation: [UInt8]

    public init(rawRepresentation bytes: [UInt8]) throws(TallyError) {
        guard bytes.count == 32 else { throw TallyError(.malformedKey, "an X25519 public key is 32 bytes, got \(bytes.count)") }
        rawRepresentation = bytes
    }

    init(uncheckedBytes: [UInt8]) { rawRepresentation = uncheckedBytes }

    /// Throws `malformed-key` if no key agreement with this key can succeed (a low-order point, or
    /// bytes OpenSSL refuses): checked where the key is first received, so that it costs its
    /// sender its place instead of failing every peer later.
    public func checkUsable() throws(TallyError) {
        do {
            _ = try KeyAgreementPrivateKey().sharedKey(with: self, context: [])
        } catch {
            throw TallyError(.malformedKey, "X25519 public key is unusable (\(error.message))")
        }
    }

    func evpKey() throws(TallyError) -> EVPKey {
        guard let k = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, rawRepresentation, rawRepresentation.count) else {
            throw TallyError(.malformedKey, "invalid X25519 public key")
        }
        return EVPKey(k)
    }
}
