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

func configuration(n: Int, threshold: Int? = nil, dimension: Int = 500, valueBits: Int = 16,
                   graph: NeighbourGraph.Kind = .complete, round: UInt64 = 1) throws -> (SecAggConfiguration, Inputs) {
    let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: n)
    let layout = try SlotLayout(slotWidth: width, count: dimension)
    let m = graph.neighbourhoodSize(cohortSize: n)
    let config = try SecAggConfiguration(roundID: round, cohort: cohort(n), threshold: threshold ?? (m / 2 + 1),
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

    init(config: SecAggConfiguration, inputs: Inputs, seed: UInt8 = 1) throws {
        let simulator = try RoundSimulator(configuration: config, seed: [seed])
        self.config = config
        self.inputs = inputs
        coordinator = try SecAggCoordinator(configuration: config, identities: simulator.identities)
        participants = [:]
        for party in simulator.parties {
            participants[party.id] = try SecAggParticipant(id: party.id, configuration: config, identityKey: party.identityKey,
                                                           identities: simulator.identities, randomness: .seeded([seed, UInt8(party.id.rawValue & 0xff)]))
        }
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
}
