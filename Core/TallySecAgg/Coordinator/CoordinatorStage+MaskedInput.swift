import TallyCore

/// Stage 3: the running sum of masked inputs and who contributed. Individual masked inputs are
/// added and dropped on arrival; only their senders' masked-with signatures are kept, to show
/// the holders of their shares in the consistency check.
public struct MaskedInputCollectionStage: Sendable {
    let directory: KeyDirectory
    let session: SessionID
    /// U2, sorted.
    let expected: [ParticipantID]
    /// The senders of the ciphertexts relayed to each member of U2: whom it must mask with.
    let delivered: [ParticipantID: [ParticipantID]]
    /// Each member of U2's commitment to its self-mask seed.
    let seedCommitments: [ParticipantID: [UInt8]]
    var sum: PackedVector
    var received: Set<ParticipantID> = []
    var maskedWith: [ParticipantID: [UInt8]] = [:]

    mutating func receive(_ input: MaskedInput, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: input.roundID, session: input.session, expected: session, sender: input.sender)
        guard expected.contains(input.sender) else {
            throw TallyError(.unexpectedMessage, "round \(context.roundID): \(input.sender) sent a masked input but did not share keys")
        }
        guard !received.contains(input.sender) else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(input.sender) already sent its masked input")
        }
        // Checked before the input enters the sum: a participant whose statement would fail its
        // peers' check is refused here instead of aborting the round for everyone later.
        let statement = SignedStatements.maskedWith(session: session, owner: input.sender, peers: delivered[input.sender] ?? [])
        do {
            try context.identities.identityKey(of: input.sender).verify(input.maskedWithSignature, for: statement)
        } catch {
            throw TallyError(
                .consistencyCheckFailed,
                "round \(context.roundID): \(input.sender)'s masked-with signature does not cover the \(delivered[input.sender]?.count ?? 0) peers whose shares it was sent"
            )
        }
        try sum.add(input.vector)
        received.insert(input.sender)
        maskedWith[input.sender] = input.maskedWithSignature
    }

    func close(_ context: CoordinatorContext) throws(TallyError) -> (ConsistencyCollectionStage, [ConsistencyRequest]) {
        try context.requireThreshold(received.count, "sent masked inputs")
        let survivors = expected.filter { received.contains($0) }
        let dropped = expected.filter { !received.contains($0) }
        let requests = survivors.map { id in
            ConsistencyRequest(
                roundID: context.roundID, session: session, recipient: id, survivors: survivors, dropped: dropped,
                maskedWith: context.graph.neighbours(of: id).compactMap { peer in
                    maskedWith[peer].map { ParticipantSignature(participant: peer, signature: $0) }
                })
        }
        let statement = SignedStatements.consistency(session: session, survivors: survivors, dropped: dropped)
        let next = ConsistencyCollectionStage(
            directory: directory, session: session, survivors: survivors, dropped: dropped,
            statement: statement, seedCommitments: seedCommitments, sum: sum)
        return (next, requests)
    }
}

/// Stage 4a: survivors' signatures over the lists. Each is checked on arrival so that one bad
/// signature costs its sender its answer, not the round.
public struct ConsistencyCollectionStage: Sendable {
    let directory: KeyDirectory
    let session: SessionID
    /// U3 and U2 ∖ U3, sorted.
    let survivors: [ParticipantID]
    let dropped: [ParticipantID]
    let statement: [UInt8]
    let seedCommitments: [ParticipantID: [UInt8]]
    let sum: PackedVector
    var signatures: [ParticipantID: [UInt8]] = [:]

    mutating func receive(_ message: ConsistencySignature, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: message.roundID, session: message.session, expected: session, sender: message.sender)
        guard survivors.contains(message.sender) else {
            throw TallyError(
                .unexpectedMessage, "round \(context.roundID): consistency signature from \(message.sender), who is not a survivor")
        }
        guard signatures[message.sender] == nil else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(message.sender) already signed the lists")
        }
        do {
            try context.identities.identityKey(of: message.sender).verify(message.signature, for: statement)
        } catch {
            throw TallyError(
                .consistencyCheckFailed,
                "round \(context.roundID): \(message.sender)'s consistency signature is not over the lists it was sent")
        }
        signatures[message.sender] = message.signature
    }

    func close(_ context: CoordinatorContext) throws(TallyError) -> (UnmaskCollectionStage, UnmaskRequest) {
        try context.requireThreshold(signatures.count, "signed the survivor lists")
        let signed = signatures.map { ParticipantSignature(participant: $0.key, signature: $0.value) }
        let request = UnmaskRequest(roundID: context.roundID, session: session, signatures: signed)
        let next = UnmaskCollectionStage(
            directory: directory, session: session, survivors: survivors, dropped: dropped,
            responders: request.signers, seedCommitments: seedCommitments, sum: sum)
        return (next, request)
    }
}
