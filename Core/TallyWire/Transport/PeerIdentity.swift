import TallyCore
import TallySecAgg
import X509

/// Who a certificate says its holder is. Identity and role are read from the URI SAN written by
/// `certs/issue-certificate.sh`: `tally://coordinator` or `tally://participant/ID`.
public enum PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    case coordinator
    case participant(ParticipantID)

    public init(certificate: Certificate) throws(TallyError) {
        let names: SubjectAlternativeNames?
        do { names = try certificate.extensions.subjectAlternativeNames } catch {
            throw TallyError(.malformedKey, "certificate has an unreadable subjectAltName")
        }
        var found: [PeerIdentity] = []
        for name in names ?? SubjectAlternativeNames() {
            guard case .uniformResourceIdentifier(let uri) = name else { continue }
            if uri == "tally://coordinator" {
                found.append(.coordinator)
            } else if uri.hasPrefix("tally://participant/"), let id = UInt32(uri.dropFirst("tally://participant/".count)), id > 0 {
                found.append(.participant(ParticipantID(id)))
            }
        }
        guard found.count == 1, let identity = found.first else {
            throw TallyError(.permissionDenied, found.isEmpty
                ? "certificate carries no Tally identity (expected a tally://coordinator or tally://participant/ID URI SAN)"
                : "certificate carries more than one Tally identity")
        }
        self = identity
    }

    public var description: String {
        switch self {
        case .coordinator: "coordinator"
        case .participant(let id): "participant \(id.rawValue)"
        }
    }
}
