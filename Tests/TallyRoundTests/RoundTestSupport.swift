import TallyCore
import TallyModel
import TallyRound
import TallySecAgg

/// Plans and runs rounds of ``CoordinatorRound`` against in-process ``SecAggParticipant``s: the
/// messages the machine sends are answered by the participants, whose answers go back in as
/// events. Members can stay silent from a stage on, or leave.
struct RoundHarness {
    static let parameterCount = 10

    static func policy(collusionMargin: Int = 1, unmasked: Bool = false) -> RoundPolicy {
        RoundPolicy(
            collusionMargin: collusionMargin, valueBits: 16, clipNorm: 1, noiseMultiplier: 1,
            stageTimeoutMilliseconds: 1000, maskedInputDelayMilliseconds: 0, dropoutRate: 0.1,
            corruptionRate: 0.05, training: TrainingSettings(), unmasked: unmasked)
    }

    static func agreement(n: Int, round: UInt64 = 1, policy: RoundPolicy = Self.policy()) throws -> RoundAgreement {
        let members = (1...n).reversed().map { (id: ParticipantID(UInt32($0)), certificate: "certificate of \($0)") }
        return try RoundAgreement.plan(
            roundID: round, members: members,
            model: (hash: SHA256Digest.hash(Array("model".utf8)), parameterCount: parameterCount, compressedBytes: 100),
            policy: policy)
    }

    var machine: CoordinatorRound
    var participants: [ParticipantID: SecAggParticipant] = [:]
    /// Who answers no message of this stage or later (a participant that hangs or crashed).
    var silentFrom: [ParticipantID: RoundStage] = [:]
    /// Every action the machine returned, in order.
    var log: [CoordinatorRound.Action] = []
    /// Inputs to use instead of ``input(_:)``'s pattern.
    var inputs: [ParticipantID: PackedVector] = [:]
    /// Every masked input the coordinator received, by sender: all it ever holds of one participant.
    var received: [ParticipantID: MaskedInput] = [:]

    init(agreement: RoundAgreement) throws {
        let simulator = try RoundSimulator(configuration: agreement.secAgg, seed: [7])
        machine = try CoordinatorRound(agreement: agreement, identities: simulator.identities)
        for party in simulator.parties {
            participants[party.id] = try SecAggParticipant(
                id: party.id, configuration: agreement.secAgg, identityKey: party.identityKey,
                identities: simulator.identities, randomness: .seeded([9, UInt8(party.id.rawValue)]))
        }
    }

    var ids: [ParticipantID] { machine.cohort }
    var layout: SlotLayout { machine.agreement.layout }

    /// Participant i's input: ``inputs``, or every slot holding 100·i + slot index.
    func input(_ id: ParticipantID) -> PackedVector {
        if let given = inputs[id] { return given }
        return try! PackedVector(packing: (0..<layout.count).map { UInt64(100 * Int(id.rawValue) + $0) }, slotWidth: layout.slotWidth)
    }

    func expectedSum(_ ids: [ParticipantID]) -> [UInt64] {
        (0..<layout.count).map { slot in ids.reduce(0) { $0 + UInt64(100 * Int($1.rawValue) + slot) } }
    }

    func answers(_ stage: RoundStage, _ id: ParticipantID) -> Bool {
        guard let from = silentFrom[id] else { return true }
        return stage < from
    }

    /// Feeds events and the participants' answers until no message is left to answer.
    mutating func run(_ first: [CoordinatorRound.Action]) throws {
        var queue = first
        while !queue.isEmpty {
            let action = queue.removeFirst()
            log.append(action)
            guard case .send(let kind, let payload, let recipients) = action else { continue }
            for id in recipients {
                guard let reply = try answer(kind, payload, id) else { continue }
                queue += machine.receive(reply.0, payload: reply.1, from: id)
            }
        }
    }

    /// Starts the round, answering the first stage (key advertisement, or plain inputs).
    mutating func start() throws {
        var actions = machine.start()
        for id in ids where answers(machine.stage, id) {
            if machine.agreement.parameters.unmasked {
                let input = MaskedInput(
                    roundID: machine.roundID, session: try SessionID(bytes: [UInt8](repeating: 0, count: 32)),
                    sender: id, vector: input(id))
                received[id] = input
                actions += machine.receive(.maskedInput, payload: input.serialized(), from: id)
            } else {
                actions += machine.receive(.keyAdvertisement, payload: try participants[id]!.advertiseKeys().serialized(), from: id)
            }
        }
        try run(actions)
    }

    private mutating func answer(_ kind: MessageKind, _ payload: [UInt8], _ id: ParticipantID) throws -> (MessageKind, [UInt8])? {
        switch kind {
        case .keyDirectory:
            guard answers(.shares, id) else { return nil }
            return (.encryptedShares, try participants[id]!.shareKeys(KeyDirectory(serialized: payload)).serialized())
        case .shareDelivery:
            guard answers(.maskedInputs, id) else { return nil }
            let masked = try participants[id]!.maskInput(ShareDelivery(serialized: payload), input: input(id))
            received[id] = masked
            return (.maskedInput, masked.serialized())
        case .consistencyRequest:
            guard answers(.consistency, id) else { return nil }
            return (.consistencySignature, try participants[id]!.checkConsistency(ConsistencyRequest(serialized: payload)).serialized())
        case .unmaskRequest:
            guard answers(.unmasking, id) else { return nil }
            return (.unmaskResponse, try participants[id]!.unmask(UnmaskRequest(serialized: payload)).serialized())
        default:
            return nil
        }
    }

    /// The stages entered, in order.
    var stages: [RoundStage] { log.compactMap { if case .enter(let s) = $0 { s } else { nil } } }

    var aggregate: CoordinatorRound.Aggregate? {
        log.lazy.compactMap { if case .aggregated(let a) = $0 { a } else { nil } }.first
    }

    var abort: (error: TallyError, charge: RoundAgreement.Charge?)? {
        log.lazy.compactMap { if case .abort(let e, let c) = $0 { (e, c) } else { nil } }.first
    }

    var refusals: [(ParticipantID, TallyError)] {
        log.compactMap { if case .refused(let id, let e) = $0 { (id, e) } else { nil } }
    }
}
