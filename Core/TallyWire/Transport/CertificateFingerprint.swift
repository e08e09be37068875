import Foundation
public import TallyCore

/// The SHA-256 fingerprint of a certificate (lowercase hex of its DER encoding) — what
/// `openssl x509 -noout -fingerprint -sha256` prints, without the colons — so an organization can
/// pin the peers it aggregates with independently of the CA.
public enum CertificateFingerprint {
    public static func sha256(pem: String) throws(TallyError) -> String {
        let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: "-----BEGIN CERTIFICATE-----"),
              let end = lines[begin...].firstIndex(of: "-----END CERTIFICATE-----"),
              let der = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw TallyError(.malformedMessage, "not a PEM certificate")
        }
        return Hex.encode(SHA256Digest.hash([UInt8](der)))
    }
}
