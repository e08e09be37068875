import TallyCore

/// Stage 1: accepted key advertisements, by sender.
public struct KeyCollectionStage: Sendable {
    var advertisements: [ParticipantID: KeyAdvertisement] = [:]

    mutating func receive(_ ad: KeyAdvertisement, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: ad.roundID, session: nil, expected: nil, sender: ad.sender)
        guard advertisements[ad.sender] == nil else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(ad.sender) already advertised keys")
        }
        // Checked here too, so one bad advertisement costs its sender its place and not the
        // whole round (every participant would otherwise abort on it).
        try ad.verify(configuration: context.configuration, identityKey: context.identities.identityKey(of: ad.sender))
        guard ad.encryptionKey != ad.maskingKey else {
            throw TallyError(.malformedKey, "round \(context.roundID): \(ad.sender) advertised the same key twice")
        }
        // A validly signed low-order key would make every neighbour's key agreement fail.
        for key in [ad.encryptionKey, ad.maskingKey] {
            do { try key.checkUsable() } catch {
                throw TallyError(.malformedKey, "round \(context.roundID): \(ad.sender) advertised an unusable key: \(error.message)")
            }
        }
        advertisements[ad.sender] = ad
    }

    func close(_ context: CoordinatorContext) throws(TallyError) -> (ShareCollectionStage, KeyDirectory) {
        try context.requireThreshold(advertisements.count, "advertised keys")
        let directory = KeyDirectory(roundID: context.roundID, entries: Array(advertisements.values))
        let session = SessionID(configuration: context.configuration, directory: directory)
        return (ShareCollectionStage(directory: directory, session: session, expected: directory.entries.map(\.sender)), directory)
    }
}

/// Stage 2: encrypted shares, by sender. The coordinator cannot open them.
public struct ShareCollectionStage: Sendable {
    let directory: KeyDirectory
    let session: SessionID
    /// U1, sorted.
    let expected: [ParticipantID]
    var received: [ParticipantID: EncryptedShares] = [:]

    mutating func receive(_ shares: EncryptedShares, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: shares.roundID, session: shares.session, expected: session, sender: shares.sender)
        guard expected.contains(shares.sender) else {
            throw TallyError(.unexpectedMessage, "round \(context.roundID): \(shares.sender) sent shares but did not advertise keys")
        }
        guard received[shares.sender] == nil else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(shares.sender) already sent its shares")
        }
        var recipients = Set<ParticipantID>()
        for item in shares.shares {
            guard context.graph.areNeighbours(shares.sender, item.peer), directory.entries.contains(where: { $0.sender == item.peer })
            else {
                throw TallyError(
                    .unexpectedMessage,
                    "round \(context.roundID): \(shares.sender) addressed a share to \(item.peer), not a neighbour in the directory")
            }
            guard recipients.insert(item.peer).inserted else {
                throw TallyError(.duplicateMessage, "round \(context.roundID): \(shares.sender) sent two shares to \(item.peer)")
            }
            guard item.ciphertext.count == AddressedCiphertext.ciphertextBytes else {
                throw TallyError(.malformedMessage, "round \(context.roundID): share ciphertext from \(shares.sender) has the wrong size")
            }
        }
        guard shares.seedCommitment.count == 32 else {
            throw TallyError(.malformedMessage, "round \(context.roundID): the seed commitment of \(shares.sender) is not 32 bytes")
        }
        received[shares.sender] = shares
    }

    func close(_ context: CoordinatorContext) throws(TallyError) -> (MaskedInputCollectionStage, [ShareDelivery]) {
        try context.requireThreshold(received.count, "shared keys")
        // Route each ciphertext to its recipient, keeping only those between members of U2.
        var inbox: [ParticipantID: [AddressedCiphertext]] = [:]
        for (sender, message) in received {
            for item in message.shares where received[item.peer] != nil {
                inbox[item.peer, default: []].append(AddressedCiphertext(peer: sender, ciphertext: item.ciphertext))
            }
        }
        let u2 = received.keys.sorted()
        let deliveries = u2.map { id in
            ShareDelivery(
                roundID: context.roundID, session: session, recipient: id,
                shares: (inbox[id] ?? []).sorted { $0.peer < $1.peer })
        }
        let delivered = Dictionary(uniqueKeysWithValues: deliveries.map { ($0.recipient, $0.shares.map(\.peer)) })
        let next = MaskedInputCollectionStage(
            directory: directory, session: session, expected: u2, delivered: delivered,
            seedCommitments: received.mapValues(\.seedCommitment),
            sum: PackedVector(zeros: context.configuration.layout))
        return (next, deliveries)
    }
}
