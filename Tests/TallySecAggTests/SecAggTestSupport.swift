import TallyCore

@testable import TallySecAgg

/// Deterministic b-bit inputs per participant, and their exact sums.
struct Inputs: Sendable {
    let layout: SlotLayout
    let valueBits: Int
    let seed: UInt64

    func values(_ id: ParticipantID) -> [UInt64] {
        let rng = SeededRandom(testSeed: seed &* 1_000_003 &+ UInt64(id.rawValue))
        let mask = (UInt64(1) << UInt64(valueBits)) - 1
        return (0..<layout.count).map { _ in rng.nextWord() & mask }
    }

    func vector(_ id: ParticipantID) -> PackedVector {
        try! PackedVector(packing: values(id), slotWidth: layout.slotWidth)
    }

    func sum(of ids: [ParticipantID]) -> [UInt64] {
        var total = [UInt64](repeating: 0, count: layout.count)
        for id in ids { for (i, v) in values(id).enumerated() { total[i] += v } }
        return total
    }
}

func cohort(_ n: Int) -> [ParticipantID] { (1...n).map { ParticipantID(UInt32($0 * 7)) } }

func configuration(
    n: Int, threshold: Int? = nil, collusionMargin: Int = 0, dimension: Int = 500, valueBits: Int = 16,
    graph: NeighbourGraph.Kind = .complete, round: UInt64 = 1
) throws -> (SecAggConfiguration, Inputs) {
    let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: n)
    let layout = try SlotLayout(slotWidth: width, count: dimension)
    let m = graph.neighbourhoodSize(cohortSize: n)
    let t = threshold ?? SecAggConfiguration.minimumThreshold(neighbourhood: m, collusionMargin: collusionMargin)
    let config = try SecAggConfiguration(
        roundID: round, cohort: cohort(n), threshold: t, collusionMargin: collusionMargin,
        layout: layout, graph: graph, planDigest: SHA256Digest.hash(Array("plan".utf8)))
    return (config, Inputs(layout: layout, valueBits: valueBits, seed: round &+ UInt64(n)))
}

func code(of body: () throws -> Void) -> TallyError.Code? {
    do { try body(); return nil } catch let e as TallyError { return e.code } catch { return nil }
}

/// A round driven by hand, one stage at a time, for tests that need to step in between.
struct ManualRound {
    var coordinator: SecAggCoordinator
    var participants: [ParticipantID: SecAggParticipant]
    let config: SecAggConfiguration
    let inputs: Inputs

    /// Identity keys by participant (the test PKI), for tests that play a colluding participant.
    let identityKeys: [ParticipantID: SigningPrivateKey]

    /// `checksConsistency: false` builds participants without the consistency check: the
    /// positive control of the attacks it stops.
    init(config: SecAggConfiguration, inputs: Inputs, seed: UInt8 = 1, checksConsistency: Bool = true) throws {
        let simulator = try RoundSimulator(configuration: config, seed: [seed])
        self.config = config
        self.inputs = inputs
        coordinator = try SecAggCoordinator(configuration: config, identities: simulator.identities)
        participants = [:]
        var keys: [ParticipantID: SigningPrivateKey] = [:]
        for party in simulator.parties {
            participants[party.id] = try SecAggParticipant(
                id: party.id, configuration: config, identityKey: party.identityKey,
                identities: simulator.identities, randomness: .seeded([seed, UInt8(party.id.rawValue & 0xff)]),
                checksConsistency: checksConsistency)
            keys[party.id] = party.identityKey
        }
        identityKeys = keys
    }

    var ids: [ParticipantID] { config.cohort }

    mutating func advertise(_ who: [ParticipantID]? = nil) throws -> KeyDirectory {
        for id in who ?? ids { try coordinator.receive(participants[id]!.advertiseKeys()) }
        return try coordinator.closeKeyAdvertisement()
    }

    mutating func share(_ directory: KeyDirectory, _ who: [ParticipantID]? = nil) throws -> [ParticipantID: ShareDelivery] {
        for id in who ?? directory.entries.map(\.sender) { try coordinator.receive(participants[id]!.shareKeys(directory)) }
        return Dictionary(uniqueKeysWithValues: try coordinator.closeShareKeys().map { ($0.recipient, $0) })
    }

    /// Returns the masked inputs sent (as the coordinator saw them).
    mutating func mask(_ deliveries: [ParticipantID: ShareDelivery], _ who: [ParticipantID]? = nil) throws -> [ParticipantID: MaskedInput] {
        var sent: [ParticipantID: MaskedInput] = [:]
        for id in who ?? deliveries.keys.sorted() {
            let message = try participants[id]!.maskInput(deliveries[id]!, input: inputs.vector(id))
            sent[id] = message
            try coordinator.receive(message)
        }
        return sent
    }

    /// Closes stage 3, lets `who` (default: every survivor) check and sign the lists, and closes
    /// the consistency check: the unmask request.
    mutating func check(_ who: [ParticipantID]? = nil) throws -> UnmaskRequest {
        let requests = Dictionary(uniqueKeysWithValues: try coordinator.closeMaskedInput().map { ($0.recipient, $0) })
        for id in who ?? requests.keys.sorted() { try coordinator.receive(participants[id]!.checkConsistency(requests[id]!)) }
        return try coordinator.closeConsistencyCheck()
    }

    /// Lets `who` (default: every signer) answer `request` and finishes the round.
    mutating func unmask(_ request: UnmaskRequest, _ who: [ParticipantID]? = nil) throws -> AggregationResult {
        for id in who ?? request.signers { try coordinator.receive(participants[id]!.unmask(request)) }
        return try coordinator.finish()
    }
}
