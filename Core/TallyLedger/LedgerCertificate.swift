internal import Foundation
public import TallyCore

/// A signer's X.509 certificate as the ledger keeps it (PEM, one per record), read just far enough
/// to verify signatures: the subject public key, the Tally role in the URI SAN, and what an
/// issuer check needs. Parsing is strict and bounds-checked: the certificate comes from the ledger
/// file, which an auditor does not trust.
public struct LedgerCertificate: Sendable, Hashable {
    /// The PEM as stored.
    public let pem: String
    /// The certificate's DER.
    public let der: [UInt8]
    /// DER SubjectPublicKeyInfo.
    public let subjectPublicKeyInfo: [UInt8]
    /// The subject's common name, if any (for display).
    public let subjectCommonName: String?
    /// The role the `tally://coordinator` or `tally://participant/ID` URI SAN names; nil when the
    /// certificate names none (e.g. a test certificate).
    public let tallyRole: LedgerRole?
    /// notBefore and notAfter, as `YYYY-MM-DD hh:mm:ss UTC` (for display).
    public let notBefore: String
    public let notAfter: String

    let tbsCertificate: [UInt8]
    let tbsSignatureAlgorithm: [UInt8]
    let signatureAlgorithm: [UInt8]
    let signatureValue: [UInt8]
    let issuer: [UInt8]
    let subject: [UInt8]

    // DER of the OIDs used here.
    private static let subjectAltNameOID: [UInt8] = [0x55, 0x1d, 0x11] // 2.5.29.17
    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03] // 2.5.4.3
    private static let ecdsaWithSHA256OID: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02] // 1.2.840.10045.4.3.2
    private static let ed25519OID: [UInt8] = [0x2b, 0x65, 0x70] // 1.3.101.112

    /// Parses the first `CERTIFICATE` block of `pem`.
    public init(pem: String) throws(TallyError) {
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        guard let b = pem.range(of: begin), let e = pem.range(of: end, range: b.upperBound..<pem.endIndex),
            let data = Data(base64Encoded: String(pem[b.upperBound..<e.lowerBound]), options: .ignoreUnknownCharacters),
            !data.isEmpty
        else {
            throw TallyError(.malformedKey, "not a PEM certificate")
        }
        try self.init(der: [UInt8](data), pem: pem)
    }

    init(der: [UInt8], pem: String) throws(TallyError) {
        self.pem = pem
        self.der = der
        var outer = DERReader(der[...])
        let certificate = try outer.next(tag: 0x30, "a certificate SEQUENCE")
        guard outer.isAtEnd else { throw DERReader.malformed("bytes after the certificate") }
        var parts = DERReader(certificate.content)
        let tbs = try parts.next(tag: 0x30, "tbsCertificate")
        signatureAlgorithm = Array(try parts.next(tag: 0x30, "signatureAlgorithm").encoded)
        let bitString = try parts.next(tag: 0x03, "signatureValue")
        guard bitString.content.first == 0 else { throw DERReader.malformed("signature BIT STRING with unused bits") }
        signatureValue = Array(bitString.content.dropFirst())
        guard parts.isAtEnd else { throw DERReader.malformed("extra fields after the signature") }
        tbsCertificate = Array(tbs.encoded)

        var fields = DERReader(tbs.content)
        if fields.nextTag == 0xa0 { _ = try fields.next() } // version
        _ = try fields.next(tag: 0x02, "serialNumber")
        tbsSignatureAlgorithm = Array(try fields.next(tag: 0x30, "signature algorithm").encoded)
        issuer = Array(try fields.next(tag: 0x30, "issuer").encoded)
        var validity = DERReader(try fields.next(tag: 0x30, "validity").content)
        notBefore = Self.time(try validity.next())
        notAfter = Self.time(try validity.next())
        let subjectElement = try fields.next(tag: 0x30, "subject")
        subject = Array(subjectElement.encoded)
        subjectPublicKeyInfo = Array(try fields.next(tag: 0x30, "subjectPublicKeyInfo").encoded)
        subjectCommonName = try Self.commonName(subjectElement.content)

        var roles: [LedgerRole] = []
        while !fields.isAtEnd {
            let field = try fields.next()
            guard field.tag == 0xa3 else { continue } // issuerUniqueID, subjectUniqueID
            var explicit = DERReader(field.content)
            var extensions = DERReader(try explicit.next(tag: 0x30, "extensions").content)
            while !extensions.isAtEnd {
                var ext = DERReader(try extensions.next(tag: 0x30, "extension").content)
                let oid = try ext.next(tag: 0x06, "extension id")
                if ext.nextTag == 0x01 { _ = try ext.next() } // critical
                let value = try ext.next(tag: 0x04, "extension value")
                guard Array(oid.content) == Self.subjectAltNameOID else { continue }
                var valueReader = DERReader(value.content)
                var names = DERReader(try valueReader.next(tag: 0x30, "GeneralNames").content)
                while !names.isAtEnd {
                    let name = try names.next()
                    guard name.tag == 0x86 else { continue } // uniformResourceIdentifier [6] IA5String
                    if let role = LedgerRole(uri: String(decoding: name.content, as: UTF8.self)) { roles.append(role) }
                }
            }
        }
        guard roles.count <= 1 else {
            throw TallyError(.malformedKey, "certificate carries more than one Tally identity")
        }
        tallyRole = roles.first
    }

    /// The key records signed by this certificate verify under.
    public func publicKey() throws(TallyError) -> SigningPublicKey {
        try SigningPublicKey(derRepresentation: subjectPublicKeyInfo)
    }

    /// Throws unless `issuer` issued this certificate: the issuer name equals the issuer's
    /// subject and the certificate's signature verifies under the issuer's key (ECDSA P-256 with
    /// SHA-256, or Ed25519 — the federation CA's algorithms). Validity periods are not checked:
    /// an audit looks at records signed in the past.
    public func checkIssued(by issuerCertificate: LedgerCertificate) throws(TallyError) {
        guard issuer == issuerCertificate.subject else {
            throw TallyError(.badSignature, "certificate \(displayName) names another issuer than \(issuerCertificate.displayName)")
        }
        guard signatureAlgorithm == tbsSignatureAlgorithm else {
            throw TallyError(.badSignature, "certificate \(displayName) has inconsistent signature algorithms")
        }
        let key = try issuerCertificate.publicKey()
        var algorithm = DERReader(signatureAlgorithm[...])
        var identifier = DERReader(try algorithm.next(tag: 0x30, "AlgorithmIdentifier").content)
        let oid = Array(try identifier.next(tag: 0x06, "algorithm").content)
        switch (oid, key.algorithm) {
        case (Self.ecdsaWithSHA256OID, .ecdsaP256), (Self.ed25519OID, .ed25519):
            break
        default:
            throw TallyError(
                .badSignature,
                "certificate \(displayName) is signed with an algorithm the issuer's key does not use (expected ECDSA P-256 with SHA-256 or Ed25519)"
            )
        }
        do {
            try key.verify(signatureValue, for: tbsCertificate)
        } catch {
            throw TallyError(.badSignature, "certificate \(displayName) was not signed by \(issuerCertificate.displayName)")
        }
    }

    /// The common name, or the role, for messages.
    public var displayName: String {
        if let subjectCommonName { return "\"\(subjectCommonName)\"" }
        if let tallyRole { return "of \(tallyRole.noun)" }
        return "(no common name)"
    }

    /// UTCTime (`YYMMDDhhmmssZ`, years 1950–2049 per RFC 5280) or GeneralizedTime
    /// (`YYYYMMDDhhmmssZ`) as `YYYY-MM-DD hh:mm:ss UTC`; anything else as written.
    private static func time(_ element: DERReader.Element) -> String {
        let raw = String(decoding: element.content, as: UTF8.self)
        let digits = Array(raw.utf8.dropLast())
        guard raw.hasSuffix("Z"), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return raw }
        let text = String(decoding: digits, as: UTF8.self)
        let full: String
        switch (element.tag, digits.count) {
        case (0x17, 12): full = (Int(text.prefix(2))! >= 50 ? "19" : "20") + text
        case (0x18, 14): full = text
        default: return raw
        }
        let c = Array(full)
        return
            "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8])) \(String(c[8..<10])):\(String(c[10..<12])):\(String(c[12..<14])) UTC"
    }

    /// The first CN in a Name (SEQUENCE OF SET OF AttributeTypeAndValue).
    private static func commonName(_ name: ArraySlice<UInt8>) throws(TallyError) -> String? {
        var sets = DERReader(name)
        while !sets.isAtEnd {
            var attributes = DERReader(try sets.next(tag: 0x31, "RelativeDistinguishedName").content)
            while !attributes.isAtEnd {
                var pair = DERReader(try attributes.next(tag: 0x30, "AttributeTypeAndValue").content)
                let type = try pair.next(tag: 0x06, "attribute type")
                let value = try pair.next()
                if Array(type.content) == commonNameOID { return String(decoding: value.content, as: UTF8.self) }
            }
        }
        return nil
    }
}
