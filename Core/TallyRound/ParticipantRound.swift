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
    private var secAgg: SecAggParticipant
    /// The charge admitted by the budget; nil for a benchmark round without noise.
    private let cost: LedgerEntry?
    private var delivery: ShareDelivery?
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
        self.secAgg = try SecAggParticipant(
            id: me, configuration: agreement.secAgg, identityKey: identityKey,
            identities: identities, randomness: randomness)
        self.delayPassed = agreement.parameters.maskedInputDelayMilliseconds == 0
    }

    public var roundID: UInt64 { agreement.parameters.roundID }
    private var unmasked: Bool { agreement.parameters.unmasked }

    /// Advertises keys, or, without masking, starts encoding with the plan digest as the
    /// rotation's seed (there is no session).
    public mutating func start() -> [Action] {
        if unmasked { return [.encode(rotationSeed: agreement.digest)] }
        return attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in
            [.send(.keyAdvertisement, payload: try s.secAgg.advertiseKeys().serialized())]
        }
    }

    /// A complete protocol message from the coordinator.
    public mutating func receive(_ kind: MessageKind, payload: [UInt8]) -> [Action] {
        attempt { (s: inout ParticipantRound) throws(TallyError) -> [Action] in
            guard !s.unmasked else { throw TallyError(.unexpectedMessage, "a round without masking has no \(kind) message") }
            switch kind {
            case .keyDirectory:
                let shares = try s.secAgg.shareKeys(KeyDirectory(serialized: payload))
                // The session id is fixed only now, after every key was committed: the rotation
                // derives from it, so the coordinator cannot choose it through the plan.
                guard let session = s.secAgg.session else { throw TallyError(.unexpectedMessage, "no session after the key directory") }
                return [.send(.encryptedShares, payload: shares.serialized()), .encode(rotationSeed: session.bytes)]
            case .shareDelivery:
                guard s.delivery == nil, !s.inputSent else { throw TallyError(.duplicateMessage, "a second share delivery") }
                s.delivery = try ShareDelivery(serialized: payload)
                return try s.sendInputIfReady()
            case .consistencyRequest:
                return [
                    .send(
                        .consistencySignature, payload: try s.secAgg.checkConsistency(ConsistencyRequest(serialized: payload)).serialized())
                ]
            case .unmaskRequest:
                return [.send(.unmaskResponse, payload: try s.secAgg.unmask(UnmaskRequest(serialized: payload)).serialized())]
            default:
                throw TallyError(.unexpectedMessage, "the coordinator sent a participant-only message (\(kind))")
            }
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
        guard !inputSent, delayPassed, let input, unmasked || delivery != nil else { return [] }
        let masked: MaskedInput
        if unmasked {
            masked = MaskedInput(
                roundID: roundID, session: try SessionID(bytes: [UInt8](repeating: 0, count: 32)), sender: me, vector: input)
        } else {
            masked = try secAgg.maskInput(delivery!, input: input)
        }
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
            secAgg.abort(error)
            return [.leave(error)]
        }
    }
}
