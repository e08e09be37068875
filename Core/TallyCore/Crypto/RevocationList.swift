internal import CLibCrypto

/// The federation's certificate revocation list (PEM, as written by `certs/revoke-certificate.sh`),
/// verified against the CA certificate before any entry is believed.
public struct RevocationList: Sendable, Hashable {
    /// Revoked serial numbers, upper-case hex without leading zeros (OpenSSL's form).
    public let revokedSerials: Set<String>

    public init(revokedSerials: Set<String> = []) { self.revokedSerials = revokedSerials }

    /// Parses `crlPEM` and checks its signature with the CA certificate `caPEM`.
    public init(crlPEM: String, caPEM: String) throws(TallyError) {
        let crl = try Self.read(crlPEM) { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        defer { X509_CRL_free(crl) }
        let ca = try Self.read(caPEM) { PEM_read_bio_X509($0, nil, nil, nil) }
        defer { X509_free(ca) }
        guard let caKey = X509_get0_pubkey(ca), X509_CRL_verify(crl, caKey) == 1 else {
            ERR_clear_error()
            throw TallyError(.badSignature, "the revocation list is not signed by the federation CA")
        }
        var serials = Set<String>()
        if let revoked = X509_CRL_get_REVOKED(crl) {
            let stack = revoked
            for i in 0..<OPENSSL_sk_num(stack) {
                guard let entry = OPENSSL_sk_value(stack, i),
                    let serial = X509_REVOKED_get0_serialNumber(OpaquePointer(entry))
                else { continue }
                if let hex = Self.hex(serial) { serials.insert(hex) }
            }
        }
        revokedSerials = serials
    }

    /// True if the certificate with this serial (big-endian bytes) is revoked.
    public func isRevoked(serialNumber bytes: [UInt8]) -> Bool {
        // BN_bn2hex's form: two upper-case digits per byte (a leading 0 nibble kept), leading
        // zero bytes dropped, and "0" for zero.
        let text = Hex.encode(bytes.drop(while: { $0 == 0 }), uppercase: true)
        return revokedSerials.contains(text.isEmpty ? "0" : text)
    }

    private static func read(_ pem: String, _ parse: (OpaquePointer) -> OpaquePointer?) throws(TallyError) -> OpaquePointer {
        let bytes = Array(pem.utf8)
        // The BIO reads `bytes` in place, after the call that made it: they must outlive it.
        defer { withExtendedLifetime(bytes) {} }
        guard let bio = BIO_new_mem_buf(bytes, Int32(bytes.count)) else { throw OpenSSL.failure("PEM buffer") }
        defer { BIO_free(bio) }
        guard let object = parse(bio) else {
            ERR_clear_error()
            throw TallyError(.malformedKey, "not a PEM certificate or revocation list")
        }
        return object
    }

    private static func hex(_ integer: UnsafePointer<ASN1_INTEGER>) -> String? {
        guard let bn = ASN1_INTEGER_to_BN(integer, nil) else { return nil }
        defer { BN_free(bn) }
        guard let text = BN_bn2hex(bn) else { return nil }
        defer { tally_openssl_free(text) }
        return String(cString: text)
    }
}
