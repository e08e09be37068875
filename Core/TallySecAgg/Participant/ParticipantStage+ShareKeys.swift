import TallyCore

/// After stage 2: secrets shared; waiting for the neighbours' shares to be delivered.
public struct ShareKeysStage: Sendable {
    let keys: AdvertiseKeysStage
    let session: SessionID
    /// Neighbours' advertisements (verified), by sender.
    let neighbourKeys: [ParticipantID: KeyAdvertisement]
    let selfMaskSeed: [UInt8]
    /// This participant's own shares of its two secrets (it holds one of each, like any neighbour).
    let ownSeedShare: [UInt8]
    let ownKeyShare: [UInt8]
    /// AEAD keys agreed with each neighbour, kept to open their shares at unmask time without
    /// a second key agreement.
    let shareKeys: [ParticipantID: [UInt8]]
    /// Pairwise mask seeds with each neighbour, agreed here while the coordinator collects shares
    /// so that the masking stage is only AES and additions. Used only for neighbours that turn
    /// out to be in U2.
    let pairwiseSeeds: [ParticipantID: [UInt8]]
}

extension AdvertiseKeysStage {
    func shareKeys(_ directory: KeyDirectory, _ context: ParticipantContext) throws(TallyError) -> (ShareKeysStage, EncryptedShares) {
        var seen = Set<ParticipantID>()
        var neighbourKeys: [ParticipantID: KeyAdvertisement] = [:]
        var mine: KeyAdvertisement?
        for entry in directory.entries {
            guard entry.roundID == context.roundID else {
                throw context.abort(.wrongRound, "directory entry of \(entry.sender) is for round \(entry.roundID)")
            }
            guard context.configuration.contains(entry.sender) else {
                throw context.abort(.notInCohort, "directory lists \(entry.sender), who is not in the cohort")
            }
            guard seen.insert(entry.sender).inserted else {
                throw context.abort(.duplicateMessage, "directory lists \(entry.sender) twice")
            }
            if entry.sender == context.id {
                mine = entry
            } else if context.neighbours.contains(entry.sender) {
                // Only neighbours' keys are used, so only theirs need verifying; the rest are
                // still bound into the session id.
                try entry.verify(configuration: context.configuration, identityKey: context.identities.identityKey(of: entry.sender))
                neighbourKeys[entry.sender] = entry
            }
        }
        guard let mine, mine.encryptionKey == encryptionKey.publicKey, mine.maskingKey == maskingKey.publicKey else {
            throw context.abort(.unexpectedMessage, "the key directory does not carry this participant's own keys")
        }
        guard neighbourKeys.count + 1 >= context.threshold else {
            throw context.abort(
                .belowThreshold, "only \(neighbourKeys.count + 1) of this neighbourhood advertised keys; threshold is \(context.threshold)")
        }
        let session = SessionID(configuration: context.configuration, directory: directory)

        // Shamir-share the self-mask seed and the masking private key over the neighbourhood.
        let random = context.randomness.make("\(SecAggLabels.protocolVersion)/shares/\(context.roundID)/\(context.id)")
        let selfMaskSeed = random.bytes(32)
        let recipients = neighbourKeys.keys.sorted()
        let points = recipients.map { context.configuration.shareIndex(of: $0)! } + [context.shareIndex]
        let scheme = try ShamirSecretSharing(threshold: context.threshold, shareCount: context.configuration.cohort.count)
        let seedShares = try scheme.split(secret: selfMaskSeed, at: points, using: random)
        var secretKey = maskingKey.rawRepresentation
        defer { OpenSSLCleanse.zero(&secretKey) }
        let keyShares = try scheme.split(secret: secretKey, at: points, using: random)

        var ciphertexts: [AddressedCiphertext] = []
        ciphertexts.reserveCapacity(recipients.count)
        var aeadKeys: [ParticipantID: [UInt8]] = [:]
        var seeds: [ParticipantID: [UInt8]] = [:]
        for (i, recipient) in recipients.enumerated() {
            let key = try SessionKeys.shareEncryptionKey(
                encryptionKey, peerKey: neighbourKeys[recipient]!.encryptionKey,
                session: session, context.id, recipient)
            aeadKeys[recipient] = key
            seeds[recipient] = try SessionKeys.pairwiseSeed(
                maskingKey, peerKey: neighbourKeys[recipient]!.maskingKey,
                session: session, context.id, recipient)
            let plaintext = SessionKeys.sharePlaintext(
                from: context.id, to: recipient, seedShare: seedShares[i].y, keyShare: keyShares[i].y)
            let sealed = try AES256GCM.seal(
                plaintext, key: key, associatedData: SessionKeys.shareAssociatedData(session: session, from: context.id, to: recipient),
                random: random)
            ciphertexts.append(AddressedCiphertext(peer: recipient, ciphertext: sealed))
        }
        let stage = ShareKeysStage(
            keys: self, session: session, neighbourKeys: neighbourKeys, selfMaskSeed: selfMaskSeed,
            ownSeedShare: seedShares.last!.y, ownKeyShare: keyShares.last!.y, shareKeys: aeadKeys,
            pairwiseSeeds: seeds)
        return (
            stage,
            EncryptedShares(
                roundID: context.roundID, session: session, sender: context.id, shares: ciphertexts,
                seedCommitment: SessionKeys.seedCommitment(session: session, owner: context.id, seed: selfMaskSeed))
        )
    }
}

/// Zeroing helper for secrets held in arrays.
enum OpenSSLCleanse {
    static func zero(_ bytes: inout [UInt8]) {
        for i in bytes.indices { bytes[i] = 0 }
    }
}
