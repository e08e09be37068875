/// Who a federation member is, as its certificate names it: the URI SAN `tally://coordinator` or
/// `tally://participant/ID` (or `tally://operator/NAME`) written by `certs/issue-certificate.sh`. The one parse of that URI,
/// for the transport (who is connecting) and the ledger (who signed).
public enum PeerRole: Sendable, Hashable, CustomStringConvertible {
    case coordinator
    case participant(ParticipantID)
    /// A person or tool allowed to act on a running coordinator through its status server
    /// (disconnect, ban, pause, abort); never a member of a round.
    case `operator`(String)

    static let coordinatorURI = "tally://coordinator"
    static let participantPrefix = "tally://participant/"
    static let operatorPrefix = "tally://operator/"

    /// Whether `name` can name an operator: 1 to 64 of a–z, 0–9, `.`, `-`, `_`, starting with a
    /// letter or digit (it appears in logs and URIs as is).
    public static func isValidOperatorName(_ name: some StringProtocol) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64 else { return false }
        let allowed = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return allowed(first) && name.unicodeScalars.allSatisfy { allowed($0) || $0 == "." || $0 == "-" || $0 == "_" }
    }

    /// The role `uri` names, or nil if it is not a Tally URI (participant ids start at 1).
    public init?(uri: String) {
        if uri == Self.coordinatorURI {
            self = .coordinator
        } else if uri.hasPrefix(Self.participantPrefix), let id = UInt32(uri.dropFirst(Self.participantPrefix.count)), id > 0 {
            self = .participant(ParticipantID(id))
        } else if uri.hasPrefix(Self.operatorPrefix), Self.isValidOperatorName(uri.dropFirst(Self.operatorPrefix.count)) {
            self = .operator(String(uri.dropFirst(Self.operatorPrefix.count)))
        } else {
            return nil
        }
    }

    /// The URI a certificate for this role carries.
    public var uri: String {
        switch self {
        case .coordinator: Self.coordinatorURI
        case .participant(let id): Self.participantPrefix + "\(id.rawValue)"
        case .operator(let name): Self.operatorPrefix + name
        }
    }

    public var description: String {
        switch self {
        case .coordinator: "coordinator"
        case .participant(let id): "participant \(id.rawValue)"
        case .operator(let name): "operator \(name)"
        }
    }
}
