import TallyCore
import X509

/// The SHA-256 fingerprint of a certificate (lowercase hex of its DER encoding) — what
/// `openssl x509 -noout -fingerprint -sha256` prints, without the colons — so an organization can
/// pin the peers it aggregates with independently of the CA.
public enum CertificateFingerprint {
    public static func sha256(pem: String) throws(TallyError) -> String {
        let der: [UInt8]
        do { der = try Certificate(pemEncoded: pem).serializeAsPEM().derBytes } catch {
            throw TallyError(.malformedMessage, "not a PEM certificate")
        }
        return Hex.encode(SHA256Digest.hash(der))
    }
}
