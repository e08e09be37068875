public import TallyCore

/// The coordinator side of a secure-aggregation round: collects keys, relays encrypted shares,
/// adds masked inputs into a running sum and strips the masks once enough shares come back.
///
/// It never holds an individual input in the clear: masked inputs are folded into the sum as
/// they arrive and not kept, and the only thing it ever outputs is ``AggregationResult``, the
/// sum over at least t participants. There is deliberately no accessor for anything per
/// participant beyond public keys and ciphertexts it cannot open.
///
/// `receive` calls accept or refuse single messages (a refused message changes nothing);
/// `close…` calls end a stage — when all expected messages are in, or at the stage's deadline —
/// and abort the round if fewer than t participants remain.
public struct SecAggCoordinator: Sendable {
    public enum State: Sendable {
        case collectingKeys(KeyCollectionStage)
        case collectingShares(ShareCollectionStage)
        case collectingMaskedInputs(MaskedInputCollectionStage)
        case collectingConsistencySignatures(ConsistencyCollectionStage)
        case collectingUnmaskResponses(UnmaskCollectionStage)
        case finished(AggregationResult)
        case aborted(TallyError)

        public var name: String {
            switch self {
            case .collectingKeys: "collecting-keys"
            case .collectingShares: "collecting-shares"
            case .collectingMaskedInputs: "collecting-masked-inputs"
            case .collectingConsistencySignatures: "collecting-consistency-signatures"
            case .collectingUnmaskResponses: "collecting-unmask-responses"
            case .finished: "finished"
            case .aborted: "aborted"
            }
        }
    }

    public internal(set) var state: State
    let context: CoordinatorContext

    public init(configuration: SecAggConfiguration, identities: any IdentityVerifier) throws(TallyError) {
        try self.init(configuration: configuration, identities: identities, verifiesSecrets: true)
    }

    /// `verifiesSecrets: false` skips checking reconstructed seeds against their commitments: for
    /// tests only (the positive control of a corrupt share), deliberately not public.
    init(configuration: SecAggConfiguration, identities: any IdentityVerifier, verifiesSecrets: Bool) throws(TallyError) {
        context = CoordinatorContext(
            configuration: configuration, graph: try NeighbourGraph(configuration: configuration),
            identities: identities, verifiesSecrets: verifiesSecrets)
        state = .collectingKeys(KeyCollectionStage())
    }

    public var configuration: SecAggConfiguration { context.configuration }

    /// Participants whose message for the current stage is still outstanding.
    public var awaiting: [ParticipantID] {
        switch state {
        case .collectingKeys(let s): return context.configuration.cohort.filter { s.advertisements[$0] == nil }
        case .collectingShares(let s): return s.expected.filter { s.received[$0] == nil }
        case .collectingMaskedInputs(let s): return s.expected.filter { !s.received.contains($0) }
        case .collectingConsistencySignatures(let s): return s.survivors.filter { s.signatures[$0] == nil }
        case .collectingUnmaskResponses(let s): return s.responders.filter { s.responses[$0] == nil }
        case .finished, .aborted: return []
        }
    }

    // MARK: Stage 1 — keys

    public mutating func receive(_ advertisement: KeyAdvertisement) throws(TallyError) {
        guard case .collectingKeys(var stage) = state else { throw unexpected("key advertisement from \(advertisement.sender)") }
        try stage.receive(advertisement, context)
        state = .collectingKeys(stage)
    }

    /// Ends stage 1: the directory to send to every participant in it.
    public mutating func closeKeyAdvertisement() throws(TallyError) -> KeyDirectory {
        guard case .collectingKeys(let stage) = state else { throw unexpected("closing key advertisement") }
        let context = self.context
        let (next, directory) = try transition { () throws(TallyError) in try stage.close(context) }
        state = .collectingShares(next)
        return directory
    }

    // MARK: Stage 2 — shares

    public mutating func receive(_ shares: EncryptedShares) throws(TallyError) {
        guard case .collectingShares(var stage) = state else { throw unexpected("encrypted shares from \(shares.sender)") }
        try stage.receive(shares, context)
        state = .collectingShares(stage)
    }

    /// Ends stage 2: one delivery per participant that shared.
    public mutating func closeShareKeys() throws(TallyError) -> [ShareDelivery] {
        guard case .collectingShares(let stage) = state else { throw unexpected("closing share keys") }
        let context = self.context
        let (next, deliveries) = try transition { () throws(TallyError) in try stage.close(context) }
        state = .collectingMaskedInputs(next)
        return deliveries
    }

    // MARK: Stage 3 — masked inputs

    /// Adds a masked input into the running sum; the individual vector is not kept.
    public mutating func receive(_ input: MaskedInput) throws(TallyError) {
        guard case .collectingMaskedInputs(var stage) = state else { throw unexpected("masked input from \(input.sender)") }
        // Release the enum's copy of the sum first so adding into it does not copy the vector.
        state = .aborted(TallyError(.unexpectedMessage, "transient"))
        defer { state = .collectingMaskedInputs(stage) }
        try stage.receive(input, context)
    }

    /// Ends stage 3: one consistency request per survivor.
    public mutating func closeMaskedInput() throws(TallyError) -> [ConsistencyRequest] {
        guard case .collectingMaskedInputs(let stage) = state else { throw unexpected("closing masked input") }
        let context = self.context
        let (next, requests) = try transition { () throws(TallyError) in try stage.close(context) }
        state = .collectingConsistencySignatures(next)
        return requests
    }

    // MARK: Stage 4a — consistency check

    public mutating func receive(_ signature: ConsistencySignature) throws(TallyError) {
        guard case .collectingConsistencySignatures(var stage) = state else {
            throw unexpected("consistency signature from \(signature.sender)")
        }
        try stage.receive(signature, context)
        state = .collectingConsistencySignatures(stage)
    }

    /// Ends stage 4a: the unmask request, to send to every survivor that signed.
    public mutating func closeConsistencyCheck() throws(TallyError) -> UnmaskRequest {
        guard case .collectingConsistencySignatures(let stage) = state else { throw unexpected("closing the consistency check") }
        let context = self.context
        let (next, request) = try transition { () throws(TallyError) in try stage.close(context) }
        state = .collectingUnmaskResponses(next)
        return request
    }

    // MARK: Stage 4b — unmasking

    public mutating func receive(_ response: UnmaskResponse) throws(TallyError) {
        guard case .collectingUnmaskResponses(var stage) = state else { throw unexpected("unmask response from \(response.sender)") }
        try stage.receive(response, context)
        state = .collectingUnmaskResponses(stage)
    }

    /// Ends stage 4: reconstructs the secrets, strips every mask and returns the sum — or aborts,
    /// releasing nothing, if some secret has fewer than t shares.
    public mutating func finish() throws(TallyError) -> AggregationResult {
        guard case .collectingUnmaskResponses(let stage) = state else { throw unexpected("finishing") }
        state = .aborted(TallyError(.unexpectedMessage, "transient"))
        let context = self.context
        let result = try transition { () throws(TallyError) in try stage.unmask(context) }
        state = .finished(result)
        return result
    }

    /// Aborts the round (e.g. the operator cancels it, or the service restarts mid-round).
    public mutating func abort(_ reason: TallyError) { state = .aborted(reason) }

}

/// The released aggregate: the exact packed sum of the contributors' inputs.
public struct AggregationResult: Sendable, Equatable {
    public let roundID: UInt64
    public let session: SessionID
    public let sum: PackedVector
    /// Whose inputs are in the sum (U3).
    public let contributors: [ParticipantID]
    /// Who shared keys but sent no input (U2 \ U3); their masks were removed.
    public let dropped: [ParticipantID]
}

struct CoordinatorContext: Sendable {
    let configuration: SecAggConfiguration
    let graph: NeighbourGraph
    let identities: any IdentityVerifier
    /// Whether reconstructed self-mask seeds are checked against their commitments (always, but
    /// in the positive-control tests).
    let verifiesSecrets: Bool

    var roundID: UInt64 { configuration.roundID }
    var threshold: Int { configuration.threshold }

    func checkEnvelope(round: UInt64, session: SessionID?, expected: SessionID?, sender: ParticipantID?) throws(TallyError) {
        guard round == roundID else { throw TallyError(.wrongRound, "message for round \(round), this is round \(roundID)") }
        if let expected, let session, session != expected {
            throw TallyError(.wrongSession, "round \(roundID): message for session \(session), this is session \(expected)")
        }
        if let sender, !configuration.contains(sender) {
            throw TallyError(.notInCohort, "round \(roundID): \(sender) is not in the cohort")
        }
    }

    func requireThreshold(_ count: Int, _ stage: String) throws(TallyError) {
        guard count >= threshold else {
            throw TallyError(
                .belowThreshold,
                "round \(roundID): only \(count) participants \(stage); threshold is \(threshold). Aborting; nothing is released")
        }
    }
}

extension SecAggCoordinator: SecAggStateMachine {
    var roundID: UInt64 { context.configuration.roundID }
    var speaker: String { "coordinator" }
}

extension SecAggCoordinator.State: AbortableState {
    var abortReason: TallyError? {
        if case .aborted(let reason) = self { return reason }
        return nil
    }
}
