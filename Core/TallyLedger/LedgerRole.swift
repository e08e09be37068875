import TallyCore

/// Whose ledger it is: the coordinator's (every released round) or one participant's (the rounds
/// it contributed to, written before its masked input leaves the machine).
public enum LedgerRole: Sendable, Hashable, CustomStringConvertible {
    case coordinator
    case participant(UInt32)

    public var description: String {
        switch self {
        case .coordinator: "coordinator"
        case .participant(let id): "participant \(id)"
        }
    }

    /// "the coordinator" or "participant ID", for messages.
    public var noun: String {
        switch self {
        case .coordinator: "the coordinator"
        case .participant(let id): "participant \(id)"
        }
    }

    /// The form kept in the ledger's meta table: `coordinator` or `participant:ID`.
    var storageValue: String {
        switch self {
        case .coordinator: "coordinator"
        case .participant(let id): "participant:\(id)"
        }
    }

    init?(storageValue: String) {
        if storageValue == "coordinator" {
            self = .coordinator
        } else if storageValue.hasPrefix("participant:"), let id = UInt32(storageValue.dropFirst("participant:".count)), id > 0 {
            self = .participant(id)
        } else {
            return nil
        }
    }

    /// The role a certificate's `tally://coordinator` or `tally://participant/ID` URI SAN names
    /// (as written by `certs/issue-certificate.sh`; parsed by ``PeerRole``).
    init?(uri: String) {
        switch PeerRole(uri: uri) {
        case .coordinator: self = .coordinator
        case .participant(let id): self = .participant(id.rawValue)
        case .operator, nil: return nil
        }
    }
}
