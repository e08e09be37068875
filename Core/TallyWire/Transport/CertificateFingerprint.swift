import TallyCore
import X509

/// The SHA-256 fingerprint of a certificate (lowercase hex of its DER encoding) — what
/// `openssl x509 -noout -fingerprint -sha256` prints, without the colons — so an organization can
/// pin the peers it aggregates with independently of the CA.
public enum CertificateFingerprint {
    /// A pure function of the PEM text, remembered: a participant fingerprints the same cohort
    /// certificates every round.
    private static let known = BoundedMemo<String>()

    public static func sha256(pem: String) throws(TallyError) -> String {
        if let fingerprint = known[pem] { return fingerprint }
        let der: [UInt8]
        do { der = try Certificate(pemEncoded: pem).serializeAsPEM().derBytes } catch {
            throw TallyError(.malformedMessage, "not a PEM certificate")
        }
        let fingerprint = Hex.encode(SHA256Digest.hash(der))
        known.remember(fingerprint, for: pem)
        return fingerprint
    }
}
