import TallyCore

/// After stage 3: the masked input is sent; holding the ciphertexts of the neighbours that
/// shared (U2) until the coordinator says who survived.
public struct MaskedInputStage: Sendable {
    let shared: ShareKeysStage
    /// Ciphertexts received, by sender: exactly the neighbours in U2.
    let received: [ParticipantID: [UInt8]]

    var session: SessionID { shared.session }
}

extension ShareKeysStage {
    func maskInput(_ delivery: ShareDelivery, input vector: inout PackedVector, _ context: ParticipantContext) throws(TallyError) -> (
        MaskedInputStage, MaskedInput
    ) {
        var received: [ParticipantID: [UInt8]] = [:]
        for item in delivery.shares {
            guard neighbourKeys[item.peer] != nil else {
                throw context.abort(.notInCohort, "share delivery carries a share from \(item.peer), not a neighbour that advertised keys")
            }
            guard received.updateValue(item.ciphertext, forKey: item.peer) == nil else {
                throw context.abort(.duplicateMessage, "share delivery carries two shares from \(item.peer)")
            }
        }
        guard received.count + 1 >= context.threshold else {
            throw context.abort(
                .belowThreshold, "only \(received.count + 1) of this neighbourhood shared keys; threshold is \(context.threshold)")
        }

        // input + self mask + Σ ± pairwise masks with every neighbour in U2, in one pass.
        var terms = [MaskGenerator.Term(seed: selfMaskSeed, label: SessionKeys.selfMaskLabel(session: session, owner: context.id))]
        for peer in received.keys.sorted() {
            terms.append(SessionKeys.pairwiseTerm(seed: pairwiseSeeds[peer]!, session: session, owner: context.id, peer: peer))
        }
        try MaskGenerator.apply(terms, to: &vector)
        // Whom it masked with, signed: the holders of its shares check this before revealing them.
        let statement = SignedStatements.maskedWith(session: session, owner: context.id, peers: Array(received.keys))
        let signature = try context.identityKey.signature(for: statement)
        return (
            MaskedInputStage(shared: self, received: received),
            MaskedInput(roundID: context.roundID, session: session, sender: context.id, vector: vector, maskedWithSignature: signature)
        )
    }
}
