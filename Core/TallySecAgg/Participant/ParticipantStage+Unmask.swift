import TallyCore

extension ConsistencyStage {
    /// Reveals shares once at least t participants of each secret's neighbourhood are shown to
    /// have signed exactly the lists this participant signed.
    func unmask(_ request: UnmaskRequest, _ context: ParticipantContext) throws(TallyError) -> UnmaskResponse {
        // The secrets this participant holds shares of and would reveal: its own and those of
        // every neighbour that shared keys with it.
        let owners = [context.id] + masked.received.keys.sorted()
        if context.checksConsistency {
            try verifySigners(request, owners: owners, context)
        }
        var seedShares = [RevealedShare(owner: context.id, value: masked.shared.ownSeedShare)]
        var keyShares: [RevealedShare] = []
        for peer in owners.dropFirst() {
            let (seedShare, keyShare) = try masked.open(from: peer, context)
            if survivors.contains(peer) {
                seedShares.append(RevealedShare(owner: peer, value: seedShare))
            } else {
                keyShares.append(RevealedShare(owner: peer, value: keyShare))
            }
        }
        return UnmaskResponse(
            roundID: context.roundID, session: session, sender: context.id,
            selfMaskSeedShares: seedShares, maskingKeyShares: keyShares)
    }

    /// At least t valid signatures over this participant's own statement from distinct survivors
    /// in the neighbourhood (itself included) of every owner whose share it reveals. Any signature
    /// that does not verify means the coordinator forged or replayed it: abort.
    private func verifySigners(_ request: UnmaskRequest, owners: [ParticipantID], _ context: ParticipantContext) throws(TallyError) {
        var verified = Set<ParticipantID>()
        for item in request.signatures {
            guard survivors.contains(item.participant) else {
                throw context.abort(
                    .consistencyCheckFailed, "the unmask request carries a signature of \(item.participant), who is not a survivor")
            }
            guard verified.insert(item.participant).inserted else {
                throw context.abort(.consistencyCheckFailed, "the unmask request carries two signatures of \(item.participant)")
            }
            do {
                try context.identities.identityKey(of: item.participant).verify(item.signature, for: statement)
            } catch {
                throw context.abort(
                    .consistencyCheckFailed,
                    "\(item.participant)'s consistency signature is not over the lists this participant signed (different lists, another session, or forged): nothing is revealed"
                )
            }
        }
        for owner in owners {
            let holders = verified.filter { $0 == owner || context.graph.areNeighbours($0, owner) }.count
            guard holders >= context.threshold else {
                throw context.abort(
                    .consistencyCheckFailed,
                    "only \(holders) holders of \(owner)'s shares signed the same lists; \(context.threshold) needed before anything is revealed"
                )
            }
        }
    }
}

extension MaskedInputStage {
    /// Decrypts the share pair `peer` sent, checking it names the right sender and recipient.
    func open(from peer: ParticipantID, _ context: ParticipantContext) throws(TallyError) -> ([UInt8], [UInt8]) {
        let key = shared.shareKeys[peer]!
        let plaintext: [UInt8]
        do {
            plaintext = try AES256GCM.open(
                received[peer]!, key: key,
                associatedData: SessionKeys.shareAssociatedData(session: session, from: peer, to: context.id))
        } catch {
            throw context.abort(.authenticationFailed, "the encrypted share from \(peer) does not authenticate (tampered or misrouted)")
        }
        var r = WireReader(plaintext, context: "share from \(peer)")
        guard try r.readUInt32() == peer.rawValue, try r.readUInt32() == context.id.rawValue else {
            throw context.abort(.malformedShare, "the share from \(peer) names the wrong sender or recipient")
        }
        let seedShare = try r.readFixed(33), keyShare = try r.readFixed(33)
        try r.finish()
        return (seedShare, keyShare)
    }
}
