public import TallyCore

/// The participant side of a secure-aggregation round, as a state machine fed messages and
/// returning messages. It does no I/O: the daemon, the tests and the simulator drive it.
///
/// advertise keys → share keys → masked input → consistency check → unmask → finished, or
/// aborted at any point.
/// A message for another round or session is refused with an error and leaves the state as it
/// was; a message that shows the coordinator or a peer misbehaving aborts the round.
public struct SecAggParticipant: Sendable {
    public enum State: Sendable {
        case ready
        case advertised(AdvertiseKeysStage)
        case sharedKeys(ShareKeysStage)
        case maskedInput(MaskedInputStage)
        case checkedConsistency(ConsistencyStage)
        case finished
        case aborted(TallyError)

        public var name: String {
            switch self {
            case .ready: "ready"
            case .advertised: "advertised-keys"
            case .sharedKeys: "shared-keys"
            case .maskedInput: "sent-masked-input"
            case .checkedConsistency: "signed-consistency"
            case .finished: "finished"
            case .aborted: "aborted"
            }
        }
    }

    public var id: ParticipantID { context.id }
    public internal(set) var state: State = .ready
    let context: ParticipantContext

    public init(
        id: ParticipantID, configuration: SecAggConfiguration, identityKey: SigningPrivateKey,
        identities: any IdentityVerifier, randomness: RandomnessSource = .system
    ) throws(TallyError) {
        try self.init(
            id: id, configuration: configuration, identityKey: identityKey, identities: identities,
            randomness: randomness, checksConsistency: true)
    }

    /// `checksConsistency: false` exists for tests only (the positive controls of the attacks the
    /// consistency check stops); it is deliberately not public.
    init(
        id: ParticipantID, configuration: SecAggConfiguration, identityKey: SigningPrivateKey,
        identities: any IdentityVerifier, randomness: RandomnessSource, checksConsistency: Bool
    ) throws(TallyError) {
        guard let index = configuration.shareIndex(of: id) else {
            throw TallyError(.notInCohort, "\(id) is not in the cohort of round \(configuration.roundID)")
        }
        let graph = try NeighbourGraph(configuration: configuration)
        context = ParticipantContext(
            id: id, shareIndex: index, configuration: configuration, graph: graph,
            neighbours: Set(graph.neighbours(of: id)), identityKey: identityKey,
            identities: identities, randomness: randomness, checksConsistency: checksConsistency)
    }

    /// The session id, once the key directory is known (it fixes the round's public seeds).
    public var session: SessionID? {
        switch state {
        case .ready, .advertised, .finished, .aborted: nil
        case .sharedKeys(let s): s.session
        case .maskedInput(let s): s.session
        case .checkedConsistency(let s): s.session
        }
    }

    /// Stage 1: fresh round keys, signed.
    public mutating func advertiseKeys() throws(TallyError) -> KeyAdvertisement {
        guard case .ready = state else { throw unexpected("advertise keys") }
        let context = self.context
        let (stage, message) = try transition { () throws(TallyError) in try AdvertiseKeysStage.start(context) }
        state = .advertised(stage)
        return message
    }

    /// Stage 2: verify the key directory, share secrets with the neighbours in it.
    public mutating func shareKeys(_ directory: KeyDirectory) throws(TallyError) -> EncryptedShares {
        guard case .advertised(let stage) = state else { throw unexpected("key directory") }
        try context.checkEnvelope(round: directory.roundID, session: nil, expected: nil)
        let context = self.context
        let (next, message) = try transition { () throws(TallyError) in try stage.shareKeys(directory, context) }
        state = .sharedKeys(next)
        return message
    }

    /// Stage 3: mask `input` with the self mask and the pairwise masks of the neighbours that
    /// completed stage 2 (the senders in `delivery`).
    public mutating func maskInput(_ delivery: ShareDelivery, input: consuming PackedVector) throws(TallyError) -> MaskedInput {
        guard case .sharedKeys(let stage) = state else { throw unexpected("share delivery") }
        try context.checkEnvelope(round: delivery.roundID, session: delivery.session, expected: stage.session)
        guard delivery.recipient == id else {
            throw TallyError(.unexpectedMessage, "\(id): share delivery addressed to \(delivery.recipient)")
        }
        guard input.layout == context.configuration.layout else {
            throw TallyError(
                .sizeMismatch,
                "input is \(input.layout.count)×\(input.layout.slotWidth) bits, the round expects \(context.configuration.layout.count)×\(context.configuration.layout.slotWidth)"
            )
        }
        let context = self.context
        var vector = input // owned: masking happens in place, no copy of the vector
        let (next, message) = try transition { () throws(TallyError) in try stage.maskInput(delivery, input: &vector, context) }
        state = .maskedInput(next)
        return message
    }

    /// Stage 4a: check the survivor and dropped lists against what this participant saw and
    /// against its surviving neighbours' masked-with statements, and sign them. Refuses any lists
    /// that would reveal both secrets of one participant.
    public mutating func checkConsistency(_ request: ConsistencyRequest) throws(TallyError) -> ConsistencySignature {
        guard case .maskedInput(let stage) = state else { throw unexpected("consistency request") }
        try context.checkEnvelope(round: request.roundID, session: request.session, expected: stage.session)
        let context = self.context
        let (next, message) = try transition { () throws(TallyError) in try stage.checkConsistency(request, context) }
        state = .checkedConsistency(next)
        return message
    }

    /// Stage 4b: reveal the shares the coordinator needs, once at least t participants are shown
    /// to have signed the same lists.
    public mutating func unmask(_ request: UnmaskRequest) throws(TallyError) -> UnmaskResponse {
        guard case .checkedConsistency(let stage) = state else { throw unexpected("unmask request") }
        try context.checkEnvelope(round: request.roundID, session: request.session, expected: stage.session)
        let context = self.context
        let message = try transition { () throws(TallyError) in try stage.unmask(request, context) }
        state = .finished
        return message
    }

    /// Marks the round aborted (e.g. the coordinator announced an abort or a deadline passed).
    public mutating func abort(_ reason: TallyError) { state = .aborted(reason) }

}

extension SecAggParticipant: SecAggStateMachine {
    var roundID: UInt64 { context.roundID }
    var speaker: String { "\(id)" }
}

extension SecAggParticipant.State: AbortableState {
    var abortReason: TallyError? {
        if case .aborted(let reason) = self { return reason }
        return nil
    }
}
