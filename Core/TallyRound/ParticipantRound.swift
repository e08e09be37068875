public import TallyCore
public import TallyLedger
public import TallySecAgg

/// One round as a participant runs it, without I/O, from the moment its plan is checked and its
/// model verified: events in (the coordinator's protocol messages, the encoded update, the
/// masked-input delay passing), actions out (send, start encoding, charge the budget, leave).
///
/// Nothing here waits for training: the encoded update arrives as an event, so a round that ends
/// is left at once, whatever training is doing. The masked input leaves only when three things
/// hold — the shares are delivered, the update is encoded, the plan's delay has passed — and only
/// after the budget charge that precedes it.
public struct ParticipantRound: Sendable {
    public enum Action: Sendable {
        /// Send one protocol message to the coordinator.
        case send(MessageKind, payload: [UInt8])
        /// Encode the trained update (clip, rotate with this seed, scale, round, add the noise share,
        /// pack) and report it with ``ParticipantRound/encoded(_:)``.
        case encode(rotationSeed: [UInt8])
        /// Write this charge to the local ledger (synced) before the next action, the masked
        /// input, is carried out; if it cannot be written, leave instead.
        case charge(LedgerEntry)
        /// Stop: the round is over for this participant (a refused message, a failed check).
        case leave(TallyError)
    }

    public let agreement: RoundAgreement
    public let me: ParticipantID
    /// Secure aggregation, or plain summation in a benchmark round without masking.
    private var summation: any ParticipantSummation
    /// The charge admitted by the budget; nil for a benchmark round without noise.
    private let cost: LedgerEntry?
    private var input: PackedVector?
    private var delayPassed: Bool
    public private(set) var inputSent = false
    public private(set) var left: TallyError?

    /// - Parameters:
    ///   - cost: the ledger entry charged before the masked input leaves.
    public init(
        agreement: RoundAgreement, me: ParticipantID, identityKey: SigningPrivateKey, identities: some IdentityVerifier,
        cost: LedgerEntry?, randomness: RandomnessSource = .system
    ) throws(TallyError) {
        self.agreement = agreement
        self.me = me
        self.cost = cost
        self.summation =
            agreement.parameters.unmasked
            ? PlainParticipantSummation(roundID: agreement.parameters.roundID, me: me, digest: agreement.digest)
            : try SecureParticipantSummation(
                agreement: agreement, me: me, identityKey: identityKey, identities: identities, randomness: randomness)
        self.delayPassed = agreement.parameters.maskedInputDelayMilliseconds == 0
    }

    public var roundID: UInt64 { agreement.parameters.roundID }

    /// Advertises keys, or, without masking, starts encoding with the plan digest as the
    /// rotation's seed (there is no session).
    public mutating func start() -> [Action] {
        attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in try s.summation.start() }
    }

    /// A complete protocol message from the coordinator.
    public mutating func receive(_ kind: MessageKind, payload: [UInt8]) -> [Action] {
        attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in
            try s.summation.receive(kind, payload: payload) + s.sendInputIfReady()
        }
    }

    /// The update, encoded and packed.
    public mutating func encoded(_ vector: PackedVector) -> [Action] {
        attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in
            guard s.input == nil, !s.inputSent else { throw TallyError(.duplicateMessage, "the update was encoded twice") }
            guard vector.layout == s.agreement.layout else {
                throw TallyError(
                    .sizeMismatch,
                    "the encoded update has \(vector.layout.count) slots of \(vector.layout.slotWidth) bits; the plan has \(s.agreement.layout.count) of \(s.agreement.layout.slotWidth)"
                )
            }
            s.input = vector
            return try s.sendInputIfReady()
        }
    }

    /// The plan's masked-input delay, counted from the plan's arrival, has passed.
    public mutating func delayElapsed() -> [Action] {
        attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in
            s.delayPassed = true
            return try s.sendInputIfReady()
        }
    }

    private mutating func sendInputIfReady() throws(TallyError) -> [Action] {
        guard !inputSent, delayPassed, let input, summation.readyForInput else { return [] }
        let masked = try summation.input(input)
        inputSent = true
        self.input = nil
        return (cost.map { [.charge($0)] } ?? []) + [.send(.maskedInput, payload: masked.serialized())]
    }

    private mutating func attempt(_ body: (inout ParticipantRound) throws(TallyError) -> [Action]) -> [Action] {
        guard left == nil else { return [] }
        do {
            return try body(&self)
        } catch {
            left = error
            summation.abort(error)
            return [.leave(error)]
        }
    }
}
