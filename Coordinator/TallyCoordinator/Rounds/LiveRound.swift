import TallyCore
import TallySecAgg
import TallyWire

/// The round in progress: the secure-aggregation state machine plus the transport bookkeeping
/// around it (chunk reassembly per participant, who declined or disconnected).
struct LiveRound {
    let id: UInt64
    let cohort: Set<ParticipantID>
    let layout: SlotLayout
    var coordinator: SecAggCoordinator
    /// Benchmark-only unmasked mode: inputs are summed as they come, no key exchange.
    let unmasked: Bool
    var plainSum: PackedVector
    var plainContributors: Set<ParticipantID> = []
    var assemblers: [ParticipantID: ChunkAssembler] = [:]
    /// Declined the round or disconnected: no point waiting for them.
    var gone: Set<ParticipantID> = []
    var bytesReceived = 0

    /// Participants the current stage still waits for.
    var outstanding: [ParticipantID] {
        if unmasked { return cohort.filter { !plainContributors.contains($0) && !gone.contains($0) } }
        return coordinator.awaiting.filter { !gone.contains($0) }
    }

    /// Largest reassembled payload accepted from one participant: its masked input plus slack
    /// for headers, or the share messages of the whole cohort.
    var maxPayloadBytes: Int { layout.byteCount + 64 + cohort.count * (AddressedCiphertext.ciphertextBytes + 16) }

    /// Hands a complete TallySecAgg message from `sender` to the state machine. The claimed sender
    /// inside the message must be the authenticated peer: nobody speaks for anyone else.
    mutating func deliver(kind: MessageKind, payload: [UInt8], from sender: ParticipantID) throws(TallyError) {
        func requireSender(_ claimed: ParticipantID) throws(TallyError) {
            guard claimed == sender else {
                throw TallyError(.permissionDenied, "\(sender) sent a message claiming to be from \(claimed)")
            }
        }
        switch kind {
        case .keyAdvertisement:
            let m = try KeyAdvertisement(serialized: payload)
            try requireSender(m.sender)
            try coordinator.receive(m)
        case .encryptedShares:
            let m = try EncryptedShares(serialized: payload)
            try requireSender(m.sender)
            try coordinator.receive(m)
        case .maskedInput where unmasked:
            let m = try MaskedInput(serialized: payload, layout: layout)
            try requireSender(m.sender)
            guard plainContributors.insert(m.sender).inserted else { throw TallyError(.duplicateMessage, "\(sender) sent two inputs") }
            try plainSum.add(m.vector)
        case .maskedInput:
            let m = try MaskedInput(serialized: payload, layout: layout)
            try requireSender(m.sender)
            try coordinator.receive(m)
        case .consistencySignature:
            let m = try ConsistencySignature(serialized: payload)
            try requireSender(m.sender)
            try coordinator.receive(m)
        case .unmaskResponse:
            let m = try UnmaskResponse(serialized: payload)
            try requireSender(m.sender)
            try coordinator.receive(m)
        case .keyDirectory, .shareDelivery, .consistencyRequest, .unmaskRequest:
            throw TallyError(.unexpectedMessage, "\(sender) sent a coordinator-only message (\(kind))")
        }
    }
}
