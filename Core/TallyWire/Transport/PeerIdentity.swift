import TallyCore
import X509

/// Who a certificate says its holder is: the role its `tally://…` URI SAN names.
public typealias PeerIdentity = PeerRole

extension PeerRole {
    /// The one Tally role among the certificate's URI SANs; none or several is an error.
    public init(certificate: Certificate) throws(TallyError) {
        let names: SubjectAlternativeNames?
        do { names = try certificate.extensions.subjectAlternativeNames } catch {
            throw TallyError(.malformedKey, "certificate has an unreadable subjectAltName", cause: error)
        }
        var found: [PeerRole] = []
        for name in names ?? SubjectAlternativeNames() {
            guard case .uniformResourceIdentifier(let uri) = name, let role = PeerRole(uri: uri) else { continue }
            found.append(role)
        }
        guard found.count == 1, let identity = found.first else {
            throw TallyError(
                .permissionDenied,
                found.isEmpty
                    ? "certificate carries no Tally identity (expected a tally://coordinator or tally://participant/ID URI SAN)"
                    : "certificate carries more than one Tally identity")
        }
        self = identity
    }
}
