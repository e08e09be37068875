import TallyCore

/// After stage 4a: the survivor and dropped lists are checked and signed; waiting for the
/// coordinator to show that at least t participants signed the same lists.
public struct ConsistencyStage: Sendable {
    let masked: MaskedInputStage
    /// U3 and U2 ∖ U3 as this participant signed them.
    let survivors: Set<ParticipantID>
    let dropped: Set<ParticipantID>
    /// The exact bytes signed; every other signature must be over these.
    let statement: [UInt8]

    var session: SessionID { masked.session }
}

extension MaskedInputStage {
    /// Checks the lists against what this participant saw and each surviving neighbour's own
    /// statement of whom it masked with, then signs them.
    func checkConsistency(_ request: ConsistencyRequest, _ context: ParticipantContext) throws(TallyError) -> (
        ConsistencyStage, ConsistencySignature
    ) {
        guard request.recipient == context.id else {
            throw context.abort(.unexpectedMessage, "consistency request addressed to \(request.recipient)")
        }
        let survivors = Set(request.survivors), dropped = Set(request.dropped)
        guard survivors.count == request.survivors.count, dropped.count == request.dropped.count else {
            throw context.abort(.inconsistentUnmaskRequest, "the survivor lists name a participant twice")
        }
        // The one rule that keeps every input private: never reveal both the self-mask seed and
        // the masking key of the same participant.
        if let both = survivors.intersection(dropped).first {
            throw context.abort(.inconsistentUnmaskRequest, "the lists name \(both) as both survivor and dropped")
        }
        if let stranger = survivors.union(dropped).first(where: { !context.configuration.contains($0) }) {
            throw context.abort(.inconsistentUnmaskRequest, "the lists name \(stranger), who is not in the cohort")
        }
        guard survivors.contains(context.id) else {
            throw context.abort(.inconsistentUnmaskRequest, "the lists do not count this participant as a survivor, yet ask it to unmask")
        }
        guard survivors.count >= context.threshold else {
            throw context.abort(.belowThreshold, "only \(survivors.count) survivors; threshold is \(context.threshold)")
        }
        // Consistency with what this participant saw: every neighbour that shared keys with it
        // is either a survivor or dropped, and nobody else from its neighbourhood is named.
        for peer in context.neighbours {
            let sharedWithMe = received[peer] != nil
            let named = survivors.contains(peer) || dropped.contains(peer)
            guard sharedWithMe == named else {
                throw context.abort(
                    .inconsistentUnmaskRequest,
                    sharedWithMe
                        ? "the lists omit \(peer), who shared keys in this round"
                        : "the lists name \(peer), who never shared keys with this participant")
            }
        }
        let survivingNeighbourhood = 1 + received.keys.filter { survivors.contains($0) }.count
        guard survivingNeighbourhood >= context.threshold else {
            throw context.abort(
                .belowThreshold, "only \(survivingNeighbourhood) of this neighbourhood survived; threshold is \(context.threshold)")
        }
        if context.checksConsistency {
            // Each surviving neighbour must have masked with exactly its neighbours in U2 (the
            // two lists together). One that masked with fewer — because the coordinator withheld
            // some shares from it — could be unmasked alone once those peers are called dropped.
            let views = Dictionary(request.maskedWith.map { ($0.participant, $0.signature) }, uniquingKeysWith: { first, _ in first })
            let named = survivors.union(dropped)
            for peer in received.keys.sorted() where survivors.contains(peer) {
                guard let signature = views[peer] else {
                    throw context.abort(.consistencyCheckFailed, "the coordinator did not show whom \(peer) masked with")
                }
                let expected = context.graph.neighbours(of: peer).filter { named.contains($0) }
                let statement = SignedStatements.maskedWith(session: session, owner: peer, peers: expected)
                do {
                    try context.identities.identityKey(of: peer).verify(signature, for: statement)
                } catch {
                    throw context.abort(
                        .consistencyCheckFailed,
                        "\(peer) did not mask with exactly its neighbours in the lists (\(expected.count) peers): its shares could expose its input, so nothing is revealed"
                    )
                }
            }
        }
        let statement = SignedStatements.consistency(session: session, survivors: request.survivors, dropped: request.dropped)
        let signature = try context.identityKey.signature(for: statement)
        return (
            ConsistencyStage(masked: self, survivors: survivors, dropped: dropped, statement: statement),
            ConsistencySignature(roundID: context.roundID, session: session, sender: context.id, signature: signature)
        )
    }
}
