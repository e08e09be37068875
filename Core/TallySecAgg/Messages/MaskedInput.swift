public import TallyCore

/// Stage 3, participant → coordinator: the only thing derived from a participant's data that
/// ever leaves its machine — its packed input plus its self mask plus its pairwise masks — and
/// the sender's signature over the set of peers it masked with (see ``SignedStatements``).
public struct MaskedInput: Sendable, Equatable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    public let vector: PackedVector
    /// Identity-key signature over the masked-with statement; empty only in benchmark rounds
    /// without secure aggregation.
    public let maskedWithSignature: [UInt8]

    public init(roundID: UInt64, session: SessionID, sender: ParticipantID, vector: PackedVector, maskedWithSignature: [UInt8] = []) {
        self.roundID = roundID
        self.session = session
        self.sender = sender
        self.vector = vector
        self.maskedWithSignature = maskedWithSignature
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 140 + vector.layout.byteCount)
        w.writeHeader(.maskedInput, round: roundID)
        w.write(fixed: session.bytes)
        w.write(sender.rawValue)
        w.write(vector: vector)
        w.write(bytes: maskedWithSignature)
        return w.bytes
    }

    /// Decodes against the layout the round expects; any other size is an error.
    public init(serialized bytes: [UInt8], layout: SlotLayout, limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "masked input")
        roundID = try r.readHeader(.maskedInput)
        session = try r.readSession()
        sender = try r.readParticipant()
        let payload = try r.readBytes(maxLength: min(limits.maxVectorBytes, layout.byteCount))
        vector = try PackedVector(layout: layout, serialized: payload)
        maskedWithSignature = try r.readBytes(maxLength: limits.maxSignatureBytes)
        try r.finish()
    }
}
