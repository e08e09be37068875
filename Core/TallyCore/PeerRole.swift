/// Who a federation member is, as its certificate names it: the URI SAN `tally://coordinator` or
/// `tally://participant/ID` written by `certs/issue-certificate.sh`. The one parse of that URI,
/// for the transport (who is connecting) and the ledger (who signed).
public enum PeerRole: Sendable, Hashable, CustomStringConvertible {
    case coordinator
    case participant(ParticipantID)

    static let coordinatorURI = "tally://coordinator"
    static let participantPrefix = "tally://participant/"

    /// The role `uri` names, or nil if it is not a Tally URI (participant ids start at 1).
    public init?(uri: String) {
        if uri == Self.coordinatorURI {
            self = .coordinator
        } else if uri.hasPrefix(Self.participantPrefix), let id = UInt32(uri.dropFirst(Self.participantPrefix.count)), id > 0 {
            self = .participant(ParticipantID(id))
        } else {
            return nil
        }
    }

    /// The URI a certificate for this role carries.
    public var uri: String {
        switch self {
        case .coordinator: Self.coordinatorURI
        case .participant(let id): Self.participantPrefix + "\(id.rawValue)"
        }
    }

    public var description: String {
        switch self {
        case .coordinator: "coordinator"
        case .participant(let id): "participant \(id.rawValue)"
        }
    }
}
