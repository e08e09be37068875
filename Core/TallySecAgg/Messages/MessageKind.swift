public import TallyCore

/// The first byte of every encoded message.
public enum MessageKind: UInt8, Sendable {
    case keyAdvertisement = 1
    case keyDirectory = 2
    case encryptedShares = 3
    case shareDelivery = 4
    case maskedInput = 5
    case unmaskRequest = 6
    case unmaskResponse = 7
    case consistencyRequest = 8
    case consistencySignature = 9
}

/// Limits applied while decoding, so nothing read from the wire can force a large allocation.
public struct WireLimits: Sendable, Hashable {
    public var maxCohort: Int = SecAggConfiguration.maxCohort
    public var maxSignatureBytes: Int = 256
    /// Largest packed vector accepted, in bytes (default 256 MiB).
    public var maxVectorBytes: Int = 256 << 20
    public init() {}
}

extension WireReader {
    /// Reads and checks the message header: kind and round.
    mutating func readHeader(_ kind: MessageKind) throws(TallyError) -> UInt64 {
        let raw = try readUInt8()
        guard raw == kind.rawValue else {
            throw TallyError(.malformedMessage, "expected a \(kind) message, got kind \(raw)")
        }
        return try readUInt64()
    }

    mutating func readParticipant() throws(TallyError) -> ParticipantID { ParticipantID(try readUInt32()) }

    mutating func readSession() throws(TallyError) -> SessionID { try SessionID(bytes: readFixed(32)) }

    /// A list written by ``WireWriter/write(participants:)``, its count bounded by the cohort limit
    /// and the bytes present.
    mutating func readParticipants(limits: WireLimits) throws(TallyError) -> [ParticipantID] {
        let count = try readCount(max: limits.maxCohort, minimumItemBytes: 4)
        var ids: [ParticipantID] = []
        ids.reserveCapacity(count)
        for _ in 0..<count { ids.append(try readParticipant()) }
        return ids
    }
}

extension WireWriter {
    mutating func writeHeader(_ kind: MessageKind, round: UInt64) {
        write(kind.rawValue)
        write(round)
    }

    /// A u32 count, then each id: the one layout of every participant list that is sent or signed.
    public mutating func write(participants ids: [ParticipantID]) {
        write(UInt32(ids.count))
        for id in ids { write(id.rawValue) }
    }
}
