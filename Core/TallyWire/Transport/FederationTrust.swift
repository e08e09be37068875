import Foundation
import TallyCore
import TallySecAgg
import X509

/// The federation CA and revocation list, and what they say about a certificate.
///
/// Used by the coordinator to admit participants, and by participants to check the certificates
/// of their cohort (whose keys verify key advertisements) and of the coordinator (whose key signs
/// model manifests).
public struct FederationTrust: Sendable {
    public let authority: Certificate
    /// `authority` as PEM, which a revocation list is checked against when it is read again.
    private let authorityPEM: String
    public var revocations: RevocationList
    /// Certificates already validated against `authority`: a participant checks the same cohort
    /// certificates and coordinator certificate every round, and a full validation (chain
    /// signature, PEM and DER parsing, the key's conversion for OpenSSL) was most of the fixed
    /// cost of a round. A hit still checks the validity period and `revocations` as they are now.
    private let validated = BoundedMemo<Validated>()

    public init(caPEM: String, crlPEM: String? = nil) throws(TallyError) {
        do { authority = try Certificate(pemEncoded: caPEM) } catch {
            throw TallyError(.malformedKey, "the federation CA file is not a PEM certificate")
        }
        // A member's certificate given as the CA would otherwise fail later, as an unsigned
        // revocation list or a chain that does not verify.
        guard case .isCertificateAuthority = (try? authority.extensions.basicConstraints) ?? .notCertificateAuthority else {
            throw TallyError(
                .invalidArgument,
                "the federation CA file holds \(authority.subject), which is not a CA certificate (no basicConstraints CA:TRUE); give the federation's ca.crt"
            )
        }
        authorityPEM = caPEM
        revocations = try crlPEM.map { (pem) throws(TallyError) in try RevocationList(crlPEM: pem, caPEM: caPEM) } ?? RevocationList()
    }

    public init(caFile: String, crlFile: String? = nil) throws(TallyError) {
        try self.init(
            caPEM: try Self.readText(caFile, what: "federation CA"),
            crlPEM: try crlFile.map { (path) throws(TallyError) in try Self.readText(path, what: "revocation list") })
    }

    /// Reads the revocation list at `crlFile` again (none: nothing revoked). The certificates
    /// already validated stay remembered: each is checked against the new list at its next use.
    public mutating func reloadRevocations(crlFile: String?) throws(TallyError) {
        revocations =
            try crlFile.map { (path) throws(TallyError) in
                try RevocationList(crlPEM: try Self.readText(path, what: "revocation list"), caPEM: authorityPEM)
            } ?? RevocationList()
    }

    /// Validates `certificate` against the CA now (RFC 5280: signature, validity period,
    /// basic constraints, key usage) and the revocation list, and returns who it names.
    public func verify(_ certificate: Certificate) async throws(TallyError) -> PeerIdentity {
        var verifier = Verifier(rootCertificates: CertificateStore([authority])) { RFC5280Policy() }
        switch await verifier.validate(leaf: certificate, intermediates: CertificateStore()) {
        case .validCertificate:
            break
        case .couldNotValidate(let failures):
            let reason = failures.first.map { String(describing: $0.policyFailureReason) } ?? "no chain to the federation CA"
            throw TallyError(.permissionDenied, "certificate \(certificate.subject) is not valid for this federation: \(reason)")
        }
        try checkNotRevoked(serialNumber: Array(certificate.serialNumber.bytes), subject: "\(certificate.subject)")
        return try PeerIdentity(certificate: certificate)
    }

    /// Parses and verifies a PEM certificate and returns its identity and signing key.
    public func verify(pem: String) async throws(TallyError) -> (PeerIdentity, SigningPublicKey) {
        if let known = validated[pem] {
            let now = Date()
            guard now >= known.notValidBefore, now <= known.notValidAfter else {
                throw TallyError(
                    .permissionDenied, "certificate \(known.subject) is not valid for this federation: expired or not yet valid")
            }
            try checkNotRevoked(serialNumber: known.serialNumber, subject: known.subject)
            return (known.identity, known.key)
        }
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: pem) } catch {
            throw TallyError(.malformedKey, "not a PEM certificate")
        }
        let identity = try await verify(certificate)
        let key = try Self.signingKey(of: certificate)
        validated.remember(
            Validated(
                identity: identity, key: key, subject: "\(certificate.subject)", serialNumber: Array(certificate.serialNumber.bytes),
                notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter),
            for: pem)
        return (identity, key)
    }

    /// Refuses a certificate the revocation list names, as it is now.
    private func checkNotRevoked(serialNumber: [UInt8], subject: String) throws(TallyError) {
        guard !revocations.isRevoked(serialNumber: serialNumber) else {
            throw TallyError(.permissionDenied, "certificate \(subject) has been revoked")
        }
    }

    /// The certificate's public key as a Tally verification key.
    public static func signingKey(of certificate: Certificate) throws(TallyError) -> SigningPublicKey {
        let pem: String
        do { pem = try certificate.publicKey.serializeAsPEM().pemString } catch {
            throw TallyError(.malformedKey, "certificate public key cannot be encoded")
        }
        return try SigningPublicKey(pem: pem)
    }

    public static func pem(of certificate: Certificate) throws(TallyError) -> String {
        do { return try certificate.serializeAsPEM().pemString } catch {
            throw TallyError(.malformedKey, "certificate cannot be encoded")
        }
    }

    static func readText(_ path: String, what: String) throws(TallyError) -> String {
        String(decoding: try BoundedFile.read(path, maxBytes: 1 << 20, what: what), as: UTF8.self)
    }
}

extension FederationTrust {
    /// Reads a PEM file (bounded); the contents are never logged.
    public static func readPEM(_ path: String, what: String) throws(TallyError) -> String {
        try readText(path, what: what)
    }
}

/// What a certificate's validation against the federation CA established, kept with what must
/// still be checked at each use (its validity period and serial number).
private struct Validated: Sendable {
    let identity: PeerIdentity
    let key: SigningPublicKey
    let subject: String
    let serialNumber: [UInt8]
    let notValidBefore: Date
    let notValidAfter: Date
}
