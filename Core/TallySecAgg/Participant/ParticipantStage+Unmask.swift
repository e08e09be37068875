import TallyCore

extension MaskedInputStage {
    func unmask(_ request: UnmaskRequest, _ context: ParticipantContext) throws(TallyError) -> UnmaskResponse {
        let survivors = Set(request.survivors), dropped = Set(request.dropped)
        guard survivors.count == request.survivors.count, dropped.count == request.dropped.count else {
            throw context.abort(.inconsistentUnmaskRequest, "unmask request lists a participant twice")
        }
        // The one rule that keeps every input private: never reveal both the self-mask seed and
        // the masking key of the same participant.
        if let both = survivors.intersection(dropped).first {
            throw context.abort(.inconsistentUnmaskRequest, "unmask request names \(both) as both survivor and dropped")
        }
        if let stranger = survivors.union(dropped).first(where: { !context.configuration.contains($0) }) {
            throw context.abort(.inconsistentUnmaskRequest, "unmask request names \(stranger), who is not in the cohort")
        }
        guard survivors.contains(context.id) else {
            throw context.abort(.inconsistentUnmaskRequest, "unmask request does not count this participant as a survivor, yet asks it to unmask")
        }
        // Consistency with what this participant saw: every neighbour that shared keys with it
        // is either a survivor or dropped, and nobody else from its neighbourhood is named.
        for peer in context.neighbours {
            let sharedWithMe = received[peer] != nil
            let named = survivors.contains(peer) || dropped.contains(peer)
            guard sharedWithMe == named else {
                throw context.abort(.inconsistentUnmaskRequest, sharedWithMe
                    ? "unmask request omits \(peer), who shared keys in this round"
                    : "unmask request names \(peer), who never shared keys with this participant")
            }
        }
        let survivingNeighbourhood = 1 + received.keys.filter { survivors.contains($0) }.count
        guard survivingNeighbourhood >= context.threshold else {
            throw context.abort(.belowThreshold, "only \(survivingNeighbourhood) of this neighbourhood survived; threshold is \(context.threshold)")
        }

        var seedShares = [RevealedShare(owner: context.id, value: shared.ownSeedShare)]
        var keyShares: [RevealedShare] = []
        for peer in received.keys.sorted() {
            let (seedShare, keyShare) = try open(from: peer, context)
            if survivors.contains(peer) {
                seedShares.append(RevealedShare(owner: peer, value: seedShare))
            } else {
                keyShares.append(RevealedShare(owner: peer, value: keyShare))
            }
        }
        return UnmaskResponse(roundID: context.roundID, session: session, sender: context.id,
                              selfMaskSeedShares: seedShares, maskingKeyShares: keyShares)
    }

    /// Decrypts the share pair `peer` sent, checking it names the right sender and recipient.
    func open(from peer: ParticipantID, _ context: ParticipantContext) throws(TallyError) -> ([UInt8], [UInt8]) {
        let key = shared.shareKeys[peer]!
        let plaintext: [UInt8]
        do {
            plaintext = try AES256GCM.open(received[peer]!, key: key,
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
