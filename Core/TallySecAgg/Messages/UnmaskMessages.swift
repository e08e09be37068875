public import TallyCore

/// A participant's identity-key signature over one of the ``SignedStatements``.
public struct ParticipantSignature: Sendable, Hashable {
    public let participant: ParticipantID
    public let signature: [UInt8]

    public init(participant: ParticipantID, signature: [UInt8]) {
        self.participant = participant
        self.signature = signature
    }

    static func encode(_ list: [ParticipantSignature], into w: inout WireWriter) {
        w.write(UInt32(list.count))
        for item in list { w.write(item.participant.rawValue); w.write(bytes: item.signature) }
    }

    static func decode(from r: inout WireReader, limits: WireLimits) throws(TallyError) -> [ParticipantSignature] {
        let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 8)
        var list: [ParticipantSignature] = []
        list.reserveCapacity(count)
        for _ in 0..<count {
            let id = try r.readParticipant()
            list.append(ParticipantSignature(participant: id, signature: try r.readBytes(maxLength: limits.maxSignatureBytes)))
        }
        return list
    }
}

/// Stage 3 → 4, coordinator → each survivor: who sent a masked input (survivors, U3), who
/// completed stage 2 but not stage 3 (dropped, U2 ∖ U3), and the masked-with signatures of the
/// recipient's surviving neighbours, whose self-mask seed shares it would later reveal.
public struct ConsistencyRequest: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let recipient: ParticipantID
    public let survivors: [ParticipantID]
    public let dropped: [ParticipantID]
    public let maskedWith: [ParticipantSignature]

    public init(
        roundID: UInt64, session: SessionID, recipient: ParticipantID, survivors: [ParticipantID],
        dropped: [ParticipantID], maskedWith: [ParticipantSignature]
    ) {
        self.roundID = roundID
        self.session = session
        self.recipient = recipient
        self.survivors = survivors.sorted()
        self.dropped = dropped.sorted()
        self.maskedWith = maskedWith.sorted { $0.participant < $1.participant }
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + 4 * (survivors.count + dropped.count) + 76 * maskedWith.count)
        w.writeHeader(.consistencyRequest, round: roundID)
        w.write(fixed: session.bytes)
        w.write(recipient.rawValue)
        w.write(participants: survivors)
        w.write(participants: dropped)
        ParticipantSignature.encode(maskedWith, into: &w)
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "consistency request")
        let round = try r.readHeader(.consistencyRequest)
        let session = try r.readSession()
        let recipient = try r.readParticipant()
        let survivors = try r.readParticipants(limits: limits)
        let dropped = try r.readParticipants(limits: limits)
        let signatures = try ParticipantSignature.decode(from: &r, limits: limits)
        try r.finish()
        self.init(roundID: round, session: session, recipient: recipient, survivors: survivors, dropped: dropped, maskedWith: signatures)
    }
}

/// Stage 4a, survivor → coordinator: its signature over the survivor and dropped lists it was
/// given, after checking them against what it saw.
public struct ConsistencySignature: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    public let signature: [UInt8]

    public init(roundID: UInt64, session: SessionID, sender: ParticipantID, signature: [UInt8]) {
        self.roundID = roundID
        self.session = session
        self.sender = sender
        self.signature = signature
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 128)
        w.writeHeader(.consistencySignature, round: roundID)
        w.write(fixed: session.bytes)
        w.write(sender.rawValue)
        w.write(bytes: signature)
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "consistency signature")
        roundID = try r.readHeader(.consistencySignature)
        session = try r.readSession()
        sender = try r.readParticipant()
        signature = try r.readBytes(maxLength: limits.maxSignatureBytes)
        try r.finish()
    }
}

/// Stage 4a → 4b, coordinator → every participant that signed: the consistency signatures
/// collected. Each recipient checks that at least t of them are over the lists it signed itself.
public struct UnmaskRequest: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let signatures: [ParticipantSignature]

    public init(roundID: UInt64, session: SessionID, signatures: [ParticipantSignature]) {
        self.roundID = roundID
        self.session = session
        self.signatures = signatures.sorted { $0.participant < $1.participant }
    }

    public var signers: [ParticipantID] { signatures.map(\.participant) }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + 76 * signatures.count)
        w.writeHeader(.unmaskRequest, round: roundID)
        w.write(fixed: session.bytes)
        ParticipantSignature.encode(signatures, into: &w)
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "unmask request")
        let round = try r.readHeader(.unmaskRequest)
        let session = try r.readSession()
        let signatures = try ParticipantSignature.decode(from: &r, limits: limits)
        try r.finish()
        self.init(roundID: round, session: session, signatures: signatures)
    }
}

/// A decrypted Shamir share of one participant's secret, as returned for unmasking.
public struct RevealedShare: Sendable, Hashable {
    /// Whose secret this is a share of.
    public let owner: ParticipantID
    /// f(x) with x the responder's evaluation point; 33 bytes.
    public let value: [UInt8]
}

/// Stage 4b, survivor → coordinator: shares of the self-mask seeds of survivors and of the
/// masking keys of dropped participants — never both for one participant.
public struct UnmaskResponse: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    public let selfMaskSeedShares: [RevealedShare]
    public let maskingKeyShares: [RevealedShare]

    public init(
        roundID: UInt64, session: SessionID, sender: ParticipantID,
        selfMaskSeedShares: [RevealedShare], maskingKeyShares: [RevealedShare]
    ) {
        self.roundID = roundID
        self.session = session
        self.sender = sender
        self.selfMaskSeedShares = selfMaskSeedShares
        self.maskingKeyShares = maskingKeyShares
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + 41 * (selfMaskSeedShares.count + maskingKeyShares.count))
        w.writeHeader(.unmaskResponse, round: roundID)
        w.write(fixed: session.bytes)
        w.write(sender.rawValue)
        for list in [selfMaskSeedShares, maskingKeyShares] {
            w.write(UInt32(list.count))
            for s in list { w.write(s.owner.rawValue); w.write(fixed: s.value) }
        }
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "unmask response")
        roundID = try r.readHeader(.unmaskResponse)
        session = try r.readSession()
        sender = try r.readParticipant()
        var lists: [[RevealedShare]] = []
        for _ in 0..<2 {
            let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 37)
            var shares: [RevealedShare] = []
            shares.reserveCapacity(count)
            for _ in 0..<count { shares.append(RevealedShare(owner: try r.readParticipant(), value: try r.readFixed(33))) }
            lists.append(shares)
        }
        try r.finish()
        selfMaskSeedShares = lists[0]
        maskingKeyShares = lists[1]
    }
}
