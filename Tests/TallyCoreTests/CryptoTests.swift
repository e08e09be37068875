import Testing

@testable import TallyCore

@Suite struct CryptoTests {
    @Test func x25519AgreementIsSymmetricAndLabelled() throws {
        let a = try KeyAgreementPrivateKey(), b = try KeyAgreementPrivateKey()
        let ab = try a.sharedKey(with: b.publicKey, context: Array("session-1".utf8))
        let ba = try b.sharedKey(with: a.publicKey, context: Array("session-1".utf8))
        #expect(ab == ba && ab.count == 32)
        #expect(try a.sharedKey(with: b.publicKey, context: Array("session-2".utf8)) != ab)
        // Round trip through raw bytes (as after Shamir reconstruction).
        let restored = try KeyAgreementPrivateKey(rawRepresentation: a.rawRepresentation)
        #expect(restored.publicKey == a.publicKey)
        #expect(try restored.sharedKey(with: b.publicKey, context: Array("session-1".utf8)) == ab)
    }

    /// RFC 7748 §6.1: Alice's and Bob's keys give the published shared secret; checked through
    /// HKDF so we compare HKDF(K) with HKDF of the published K.
    @Test func x25519KnownAnswer() throws {
        let alice = try KeyAgreementPrivateKey(
            rawRepresentation: [UInt8](hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        #expect(alice.publicKey.rawRepresentation.hex == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        let bob = try KeyAgreementPublicKey(
            rawRepresentation: [UInt8](hex: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        let shared = [UInt8](hex: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        let expected = try HKDF.deriveKey(inputKeyMaterial: shared, info: Array("tally/x25519/v1|ctx".utf8), length: 32)
        #expect(try alice.sharedKey(with: bob, context: Array("ctx".utf8)) == expected)
    }

    @Test func lowOrderPeerIsRejected() throws {
        let a = try KeyAgreementPrivateKey()
        let zeroPoint = try KeyAgreementPublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        #expect(throws: TallyError.self) { try a.sharedKey(with: zeroPoint, context: []) }
        #expect(throws: TallyError.self) { try KeyAgreementPublicKey(rawRepresentation: [1, 2, 3]) }
    }

    @Test func aeadRoundTripAndTamperDetection() throws {
        let key = SystemRandom().bytes(32)
        let ad = Array("session|from=3|to=7".utf8)
        let message = Array("a Shamir share".utf8)
        let sealed = try AES256GCM.seal(message, key: key, associatedData: ad)
        #expect(sealed.count == message.count + AES256GCM.overhead)
        #expect(try AES256GCM.open(sealed, key: key, associatedData: ad) == message)
        #expect(try AES256GCM.open(try AES256GCM.seal([], key: key, associatedData: ad), key: key, associatedData: ad) == [])
        for index in [0, 12, sealed.count - 1] { // nonce, body, tag
            var tampered = sealed
            tampered[index] ^= 1
            #expect(throws: TallyError.self) { try AES256GCM.open(tampered, key: key, associatedData: ad) }
        }
        #expect(throws: TallyError.self) { try AES256GCM.open(sealed, key: key, associatedData: Array("session|from=3|to=8".utf8)) }
        #expect(throws: TallyError.self) { try AES256GCM.open(sealed, key: SystemRandom().bytes(32), associatedData: ad) }
        #expect(throws: TallyError.self) { try AES256GCM.open(Array(sealed.prefix(10)), key: key, associatedData: ad) }
    }

    @Test(arguments: [SigningPrivateKey.Algorithm.ecdsaP256, .ed25519])
    func signaturesVerifyAndTamperingIsRejected(algorithm: SigningPrivateKey.Algorithm) throws {
        let key = try SigningPrivateKey(generating: algorithm)
        #expect(key.algorithm == algorithm)
        let message = Array("round 7 keys".utf8)
        let signature = try key.signature(for: message)
        try key.publicKey.verify(signature, for: message)
        // Through the encodings certificates and key files use.
        let fromDER = try SigningPublicKey(derRepresentation: key.publicKey.derRepresentation)
        try fromDER.verify(signature, for: message)
        let reloaded = try SigningPrivateKey(pem: key.pemRepresentation())
        try reloaded.publicKey.verify(try reloaded.signature(for: message), for: message)

        var badSignature = signature
        badSignature[badSignature.count / 2] ^= 0x40
        #expect(throws: TallyError.self) { try key.publicKey.verify(badSignature, for: message) }
        #expect(throws: TallyError.self) { try key.publicKey.verify(signature, for: Array("round 8 keys".utf8)) }
        let other = try SigningPrivateKey(generating: algorithm)
        #expect(throws: TallyError.self) { try other.publicKey.verify(signature, for: message) }
        #expect(throws: TallyError.self) { try SigningPublicKey(derRepresentation: [0x30, 0x03, 1, 2, 3]) }
    }

    @Test func sha256KnownAnswer() {
        #expect(SHA256Digest.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

@Suite struct RevocationListTests {
    /// Serials are compared in OpenSSL's BN_bn2hex form; a first byte below 0x10 keeps its
    /// leading zero nibble (the case that once let a revoked certificate through 1 time in 16).
    @Test func serialFormMatchesOpenSSL() {
        let list = RevocationList(revokedSerials: ["0A1B2C", "8F00", "0"])
        #expect(list.isRevoked(serialNumber: [0x0A, 0x1B, 0x2C]))
        #expect(list.isRevoked(serialNumber: [0x00, 0x0A, 0x1B, 0x2C])) // ASN.1 leading zero
        #expect(list.isRevoked(serialNumber: [0x8F, 0x00]))
        #expect(list.isRevoked(serialNumber: [0x00]))
        #expect(!list.isRevoked(serialNumber: [0x0A, 0x1B]))
        #expect(!list.isRevoked(serialNumber: [0xA1, 0xB2, 0xC0]))
    }
}
