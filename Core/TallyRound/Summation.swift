import TallyCore
import TallySecAgg

/// How the coordinator obtains a round's sum from the cohort's inputs: the stages it runs, the
/// messages it accepts, and what each stage's close sends next. A real round uses
/// ``SecureSummation``; a benchmark round that measures what masking costs uses
/// ``PlainSummation``. The plan's `unmasked` flag picks one, so ``CoordinatorRound`` itself has
/// no benchmark branch.
protocol CoordinatorSummation: Sendable {
    /// The first collecting stage.
    var firstStage: RoundStage { get }
    /// Members the current stage still waits for (before removing those that left).
    var awaiting: [ParticipantID] { get }
    /// A complete message from the authenticated `sender`, in a collecting stage.
    mutating func receive(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) throws(TallyError)
    /// Closes `stage`: the next stage and its messages, or the sum.
    mutating func close(_ stage: RoundStage) throws(TallyError) -> SummationStep
    mutating func abort(_ error: TallyError)
}

enum SummationStep {
    case next(RoundStage, [CoordinatorRound.Action])
    case sum(PackedVector, contributors: [ParticipantID], rotationSeed: [UInt8])
}

/// `message` if the sender inside it is the authenticated peer: nobody speaks for anyone else.
func from<Message>(_ sender: ParticipantID, _ message: Message, _ claimed: KeyPath<Message, ParticipantID>) throws(TallyError)
    -> Message
{
    guard message[keyPath: claimed] == sender else {
        throw TallyError(.permissionDenied, "\(sender) sent a message claiming to be from \(message[keyPath: claimed])")
    }
    return message
}

/// Secure aggregation (TallySecAgg's coordinator): keys, shares, masked inputs, consistency,
/// unmasking.
struct SecureSummation: CoordinatorSummation {
    private var secAgg: SecAggCoordinator
    private let layout: SlotLayout

    init(agreement: RoundAgreement, identities: some IdentityVerifier) throws(TallyError) {
        self.secAgg = try SecAggCoordinator(configuration: agreement.secAgg, identities: identities)
        self.layout = agreement.layout
    }

    var firstStage: RoundStage { .keys }
    var awaiting: [ParticipantID] { secAgg.awaiting }

    mutating func receive(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) throws(TallyError) {
        switch kind {
        case .keyAdvertisement: try secAgg.receive(from(sender, KeyAdvertisement(serialized: payload), \.sender))
        case .encryptedShares: try secAgg.receive(from(sender, EncryptedShares(serialized: payload), \.sender))
        case .maskedInput: try secAgg.receive(from(sender, MaskedInput(serialized: payload, layout: layout), \.sender))
        case .consistencySignature: try secAgg.receive(from(sender, ConsistencySignature(serialized: payload), \.sender))
        case .unmaskResponse: try secAgg.receive(from(sender, UnmaskResponse(serialized: payload), \.sender))
        case .keyDirectory, .shareDelivery, .consistencyRequest, .unmaskRequest:
            throw TallyError(.unexpectedMessage, "\(sender) sent a coordinator-only message (\(kind))")
        }
    }

    mutating func close(_ stage: RoundStage) throws(TallyError) -> SummationStep {
        switch stage {
        case .keys:
            let directory = try secAgg.closeKeyAdvertisement()
            return .next(.shares, [.send(.keyDirectory, payload: directory.serialized(), to: directory.entries.map(\.sender))])
        case .shares:
            let deliveries = try secAgg.closeShareKeys()
            return .next(.maskedInputs, deliveries.map { .send(.shareDelivery, payload: $0.serialized(), to: [$0.recipient]) })
        case .maskedInputs:
            let requests = try secAgg.closeMaskedInput()
            return .next(.consistency, requests.map { .send(.consistencyRequest, payload: $0.serialized(), to: [$0.recipient]) })
        case .consistency:
            let request = try secAgg.closeConsistencyCheck()
            return .next(.unmasking, [.send(.unmaskRequest, payload: request.serialized(), to: request.signers)])
        case .unmasking:
            let result = try secAgg.finish()
            return .sum(result.sum, contributors: result.contributors, rotationSeed: result.session.bytes)
        case .releasing, .released, .aborted:
            throw TallyError(.unexpectedMessage, "stage \(stage) does not collect")
        }
    }

    mutating func abort(_ error: TallyError) { secAgg.abort(error) }
}

/// Benchmark rounds only: inputs arrive unmasked and are summed as they come, in one stage. A
/// participant daemon takes part only when its configuration allows insecure benchmark rounds.
struct PlainSummation: CoordinatorSummation {
    private let cohort: [ParticipantID]
    private let threshold: Int
    private let layout: SlotLayout
    private var sum: PackedVector
    private var contributors: Set<ParticipantID> = []
    private let rotationSeed: [UInt8]

    init(agreement: RoundAgreement) {
        self.cohort = agreement.parameters.cohort
        self.threshold = agreement.parameters.threshold
        self.layout = agreement.layout
        self.sum = PackedVector(zeros: agreement.layout)
        // There is no session: the rotation derives from the plan.
        self.rotationSeed = agreement.digest
    }

    var firstStage: RoundStage { .maskedInputs }
    var awaiting: [ParticipantID] { cohort.filter { !contributors.contains($0) } }

    mutating func receive(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) throws(TallyError) {
        guard kind == .maskedInput else {
            throw TallyError(.unexpectedMessage, "\(sender) sent \(kind) in a round without masking")
        }
        let m = try from(sender, MaskedInput(serialized: payload, layout: layout), \.sender)
        guard !contributors.contains(m.sender) else { throw TallyError(.duplicateMessage, "\(sender) sent two inputs") }
        try sum.add(m.vector)
        contributors.insert(m.sender)
    }

    mutating func close(_ stage: RoundStage) throws(TallyError) -> SummationStep {
        guard contributors.count >= threshold else {
            throw TallyError(
                .belowThreshold,
                "only \(contributors.count) inputs; threshold is \(threshold). Aborting; nothing is released")
        }
        return .sum(sum, contributors: contributors.sorted(), rotationSeed: rotationSeed)
    }

    mutating func abort(_ error: TallyError) {}
}

/// The participant's side of a ``CoordinatorSummation``: what it sends first, how it answers the
/// coordinator's messages, and how its encoded update becomes the input it sends.
protocol ParticipantSummation: Sendable {
    /// The first actions: advertise keys, or start encoding at once.
    mutating func start() throws(TallyError) -> [ParticipantRound.Action]
    /// A complete message from the coordinator.
    mutating func receive(_ kind: MessageKind, payload: [UInt8]) throws(TallyError) -> [ParticipantRound.Action]
    /// Whether ``input(_:)`` can be called: everything the input depends on has arrived.
    var readyForInput: Bool { get }
    /// The input sent for the encoded update.
    mutating func input(_ vector: PackedVector) throws(TallyError) -> MaskedInput
    mutating func abort(_ error: TallyError)
}

/// Secure aggregation (TallySecAgg's participant).
struct SecureParticipantSummation: ParticipantSummation {
    private var secAgg: SecAggParticipant
    private var delivery: ShareDelivery?
    private var inputMade = false

    init(
        agreement: RoundAgreement, me: ParticipantID, identityKey: SigningPrivateKey, identities: some IdentityVerifier,
        randomness: RandomnessSource
    ) throws(TallyError) {
        self.secAgg = try SecAggParticipant(
            id: me, configuration: agreement.secAgg, identityKey: identityKey, identities: identities, randomness: randomness)
    }

    mutating func start() throws(TallyError) -> [ParticipantRound.Action] {
        [.send(.keyAdvertisement, payload: try secAgg.advertiseKeys().serialized())]
    }

    mutating func receive(_ kind: MessageKind, payload: [UInt8]) throws(TallyError) -> [ParticipantRound.Action] {
        switch kind {
        case .keyDirectory:
            let shares = try secAgg.shareKeys(KeyDirectory(serialized: payload))
            // The session id is fixed only now, after every key was committed: the rotation
            // derives from it, so the coordinator cannot choose it through the plan.
            guard let session = secAgg.session else { throw TallyError(.unexpectedMessage, "no session after the key directory") }
            return [.send(.encryptedShares, payload: shares.serialized()), .encode(rotationSeed: session.bytes)]
        case .shareDelivery:
            guard delivery == nil, !inputMade else { throw TallyError(.duplicateMessage, "a second share delivery") }
            delivery = try ShareDelivery(serialized: payload)
            return []
        case .consistencyRequest:
            return [
                .send(.consistencySignature, payload: try secAgg.checkConsistency(ConsistencyRequest(serialized: payload)).serialized())
            ]
        case .unmaskRequest:
            return [.send(.unmaskResponse, payload: try secAgg.unmask(UnmaskRequest(serialized: payload)).serialized())]
        default:
            throw TallyError(.unexpectedMessage, "the coordinator sent a participant-only message (\(kind))")
        }
    }

    var readyForInput: Bool { delivery != nil }

    mutating func input(_ vector: PackedVector) throws(TallyError) -> MaskedInput {
        guard let delivery else { throw TallyError(.unexpectedMessage, "no share delivery yet") }
        inputMade = true
        return try secAgg.maskInput(delivery, input: vector)
    }

    mutating func abort(_ error: TallyError) { secAgg.abort(error) }
}

/// Benchmark rounds only: the update is sent unmasked, with the plan digest as the rotation's
/// seed (there is no session).
struct PlainParticipantSummation: ParticipantSummation {
    let roundID: UInt64
    let me: ParticipantID
    let digest: [UInt8]

    mutating func start() throws(TallyError) -> [ParticipantRound.Action] { [.encode(rotationSeed: digest)] }

    mutating func receive(_ kind: MessageKind, payload: [UInt8]) throws(TallyError) -> [ParticipantRound.Action] {
        throw TallyError(.unexpectedMessage, "a round without masking has no \(kind) message")
    }

    var readyForInput: Bool { true }

    mutating func input(_ vector: PackedVector) throws(TallyError) -> MaskedInput {
        MaskedInput(roundID: roundID, session: try SessionID(bytes: [UInt8](repeating: 0, count: 32)), sender: me, vector: vector)
    }

    mutating func abort(_ error: TallyError) {}
}
