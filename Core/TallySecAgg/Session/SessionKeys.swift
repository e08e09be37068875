import TallyCore

/// The derivations both ends must compute identically: share-encryption keys, pairwise mask
/// seeds and the labels of every mask. Kept in one place so the participant that masks and the
/// coordinator that unmasks cannot drift apart.
enum SessionKeys {
    /// Symmetric per-pair context: the same bytes from either end.
    private static func pairContext(_ label: String, session: SessionID, _ a: ParticipantID, _ b: ParticipantID) -> [UInt8] {
        var w = WireWriter(capacity: 80)
        w.write(fixed: Array(label.utf8))
        w.write(fixed: session.bytes)
        w.write(min(a, b).rawValue)
        w.write(max(a, b).rawValue)
        return w.bytes
    }

    static func shareEncryptionKey(
        _ own: KeyAgreementPrivateKey, peerKey: KeyAgreementPublicKey, session: SessionID,
        _ a: ParticipantID, _ b: ParticipantID
    ) throws(TallyError) -> [UInt8] {
        try own.sharedKey(with: peerKey, context: pairContext(SecAggLabels.shareEncryption, session: session, a, b))
    }

    /// Directional associated data: a ciphertext from a to b does not open as one from b to a.
    static func shareAssociatedData(session: SessionID, from sender: ParticipantID, to recipient: ParticipantID) -> [UInt8] {
        var w = WireWriter(capacity: 80)
        w.write(fixed: Array(SecAggLabels.shareAssociatedData.utf8))
        w.write(fixed: session.bytes)
        w.write(sender.rawValue)
        w.write(recipient.rawValue)
        return w.bytes
    }

    static func pairwiseSeed(
        _ own: KeyAgreementPrivateKey, peerKey: KeyAgreementPublicKey, session: SessionID,
        _ a: ParticipantID, _ b: ParticipantID
    ) throws(TallyError) -> [UInt8] {
        try own.sharedKey(with: peerKey, context: pairContext(SecAggLabels.pairwiseMask, session: session, a, b))
    }

    static func pairwiseLabel(session: SessionID) -> [UInt8] { Array(SecAggLabels.pairwiseMask.utf8) + session.bytes }

    static func selfMaskLabel(session: SessionID, owner: ParticipantID) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        w.write(fixed: Array(SecAggLabels.selfMask.utf8))
        w.write(fixed: session.bytes)
        w.write(owner.rawValue)
        return w.bytes
    }

    /// The pairwise mask of `owner` with `peer` as `owner` applies it: added when owner < peer,
    /// subtracted otherwise, so the two cancel in the sum. `negated` flips it (for removal).
    static func pairwiseTerm(seed: [UInt8], session: SessionID, owner: ParticipantID, peer: ParticipantID, negated: Bool = false)
        -> MaskGenerator.Term
    {
        MaskGenerator.Term(seed: seed, label: pairwiseLabel(session: session), subtract: (owner > peer) != negated)
    }

    /// H(label ‖ session ‖ owner ‖ b): what the coordinator checks a reconstructed self-mask seed
    /// against, so a corrupt share cannot make it strip the wrong mask. Hiding, as b is 32 random bytes.
    static func seedCommitment(session: SessionID, owner: ParticipantID, seed: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: 96)
        w.write(fixed: Array(SecAggLabels.seedCommitment.utf8))
        w.write(fixed: session.bytes)
        w.write(owner.rawValue)
        w.write(fixed: seed)
        return SHA256Digest.hash(w.bytes)
    }

    /// Plaintext of an encrypted share pair.
    static func sharePlaintext(from sender: ParticipantID, to recipient: ParticipantID, seedShare: [UInt8], keyShare: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: AddressedCiphertext.plaintextBytes)
        w.write(sender.rawValue)
        w.write(recipient.rawValue)
        w.write(fixed: seedShare)
        w.write(fixed: keyShare)
        return w.bytes
    }
}
