import TallyCore

/// What a participant knows for the whole round and never changes.
struct ParticipantContext: Sendable {
    let id: ParticipantID
    let shareIndex: UInt32
    let configuration: SecAggConfiguration
    let graph: NeighbourGraph
    let neighbours: Set<ParticipantID>
    let identityKey: SigningPrivateKey
    let identities: any IdentityVerifier
    let randomness: RandomnessSource
    /// Whether the consistency check (masked-with statements, t signatures over identical lists)
    /// guards unmasking. Always true in the product; false only in tests, as the positive control
    /// that shows the attacks the check stops do succeed without it.
    let checksConsistency: Bool

    var roundID: UInt64 { configuration.roundID }
    var threshold: Int { configuration.threshold }

    func abort(_ code: TallyError.Code, _ message: String) -> TallyError {
        TallyError(code, "\(id), round \(roundID): \(message)")
    }

    /// Envelope checks: a message for another round or session is refused without changing state.
    func checkEnvelope(round: UInt64, session: SessionID?, expected: SessionID?) throws(TallyError) {
        guard round == roundID else {
            throw TallyError(.wrongRound, "\(id): message for round \(round), this is round \(roundID)")
        }
        if let expected, let session, session != expected {
            throw TallyError(.wrongSession, "\(id), round \(roundID): message for session \(session), this is session \(expected)")
        }
    }
}
