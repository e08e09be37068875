public import TallyCore

/// Stage 3 → 4, coordinator → survivors: who sent a masked input (survivors, U3) and who
/// completed stage 2 but not stage 3 (dropped, U2 \ U3).
public struct UnmaskRequest: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let survivors: [ParticipantID]
    public let dropped: [ParticipantID]

    public init(roundID: UInt64, session: SessionID, survivors: [ParticipantID], dropped: [ParticipantID]) {
        self.roundID = roundID
        self.session = session
        self.survivors = survivors.sorted()
        self.dropped = dropped.sorted()
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + 4 * (survivors.count + dropped.count))
        w.writeHeader(.unmaskRequest, round: roundID)
        w.write(fixed: session.bytes)
        w.write(UInt32(survivors.count))
        for id in survivors { w.write(id.rawValue) }
        w.write(UInt32(dropped.count))
        for id in dropped { w.write(id.rawValue) }
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "unmask request")
        let round = try r.readHeader(.unmaskRequest)
        let session = try r.readSession()
        var lists: [[ParticipantID]] = []
        for _ in 0..<2 {
            let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 4)
            var ids: [ParticipantID] = []
            ids.reserveCapacity(count)
            for _ in 0..<count { ids.append(try r.readParticipant()) }
            lists.append(ids)
        }
        try r.finish()
        self.init(roundID: round, session: session, survivors: lists[0], dropped: lists[1])
    }
}

/// A decrypted Shamir share of one participant's secret, as returned for unmasking.
public struct RevealedShare: Sendable, Hashable {
    /// Whose secret this is a share of.
    public let owner: ParticipantID
    /// f(x) with x the responder's evaluation point; 33 bytes.
    public let value: [UInt8]
}

/// Stage 4, survivor → coordinator: shares of the self-mask seeds of survivors and of the
/// masking keys of dropped participants — never both for one participant.
public struct UnmaskResponse: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    public let selfMaskSeedShares: [RevealedShare]
    public let maskingKeyShares: [RevealedShare]

    public init(roundID: UInt64, session: SessionID, sender: ParticipantID,
                selfMaskSeedShares: [RevealedShare], maskingKeyShares: [RevealedShare]) {
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
