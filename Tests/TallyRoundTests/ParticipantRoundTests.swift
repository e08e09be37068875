import TallyCore
import TallyLedger
import TallyModel
import TallyRound
import TallySecAgg
import Testing

/// The participant's round logic in process, against the coordinator's: when the masked input may
/// leave, that the charge precedes it, and that a refused message ends the round.
@Suite struct ParticipantRoundTests {
    /// Coordinator and participant machines wired together; the update is "encoded" by the test.
    struct Federation {
        var coordinator: CoordinatorRound
        var members: [ParticipantID: ParticipantRound] = [:]
        var inputs: [ParticipantID: PackedVector] = [:]
        var coordinatorLog: [CoordinatorRound.Action] = []
        var memberLog: [ParticipantID: [ParticipantRound.Action]] = [:]

        init(n: Int, delay: UInt64, unmasked: Bool = false) throws {
            var policy = RoundHarness.policy(collusionMargin: unmasked ? 0 : 1, unmasked: unmasked)
            policy.maskedInputDelayMilliseconds = delay
            let agreement = try RoundHarness.agreement(n: n, policy: policy)
            let simulator = try RoundSimulator(configuration: agreement.secAgg, seed: [3])
            coordinator = try CoordinatorRound(agreement: agreement, identities: simulator.identities)
            for party in simulator.parties {
                let cost = agreement.ledgerEntry(agreement.participantCharge(party.id), modelVersion: nil, modelHash: "m", recordedAt: 0)
                members[party.id] = try ParticipantRound(
                    agreement: agreement, me: party.id, identityKey: party.identityKey,
                    identities: simulator.identities, cost: cost, randomness: .seeded([4, UInt8(party.id.rawValue)]))
                let layout = agreement.layout
                inputs[party.id] = try PackedVector(
                    packing: (0..<layout.count).map { UInt64(Int(party.id.rawValue) + $0) }, slotWidth: layout.slotWidth)
            }
            feedCoordinator(coordinator.start())
            for id in agreement.parameters.cohort { feed(id, members[id]!.start()) }
        }

        mutating func feedCoordinator(_ actions: [CoordinatorRound.Action]) {
            for action in actions {
                coordinatorLog.append(action)
                if case .send(let kind, let payload, let recipients) = action {
                    for id in recipients { feed(id, members[id]!.receive(kind, payload: payload)) }
                }
            }
        }

        mutating func feed(_ id: ParticipantID, _ actions: [ParticipantRound.Action]) {
            for action in actions {
                memberLog[id, default: []].append(action)
                if case .send(let kind, let payload) = action { feedCoordinator(coordinator.receive(kind, payload: payload, from: id)) }
            }
        }

        func sent(_ id: ParticipantID, _ kind: MessageKind) -> Bool {
            memberLog[id, default: []].contains { if case .send(kind, _) = $0 { true } else { false } }
        }

        var aggregate: CoordinatorRound.Aggregate? {
            coordinatorLog.lazy.compactMap { if case .aggregated(let a) = $0 { a } else { nil } }.first
        }
    }

    @Test func theMaskedInputWaitsForSharesEncodingAndDelayInAnyOrder() throws {
        var f = try Federation(n: 4, delay: 500)
        let ids = f.coordinator.cohort
        #expect(f.coordinator.stage == .maskedInputs, "keys and shares went through; every member was asked to encode")
        for id in ids {
            #expect(f.memberLog[id]!.contains { if case .encode = $0 { true } else { false } })
        }
        // Encoded but the delay has not passed: nothing leaves.
        for id in ids { f.feed(id, f.members[id]!.encoded(f.inputs[id]!)) }
        #expect(!ids.contains { f.sent($0, .maskedInput) })
        // The delay passes: each input leaves, its charge first.
        for id in ids {
            let actions = f.members[id]!.delayElapsed()
            guard actions.count == 2, case .charge(let entry) = actions[0], case .send(.maskedInput, _) = actions[1] else {
                Issue.record("expected the charge, then the masked input: \(actions)"); return
            }
            #expect(entry.participants == [id.rawValue] && entry.noiseShares == 2, "t − c = 3 − 1")
            f.feed(id, actions)
        }
        let aggregate = try #require(f.aggregate)
        #expect(aggregate.contributors == ids)
        let layout = f.coordinator.agreement.layout
        #expect(aggregate.sum.unpacked() == (0..<layout.count).map { slot in ids.reduce(0) { $0 + UInt64(Int($1.rawValue) + slot) } })
    }

    @Test func theInputLeavesOnceWhateverArrivesTwice() throws {
        var f = try Federation(n: 3, delay: 0)
        let id = ParticipantID(1)
        let first = f.members[id]!.encoded(f.inputs[id]!)
        #expect(first.count == 2, "delay 0 and shares in: charge and input at once")
        let again = f.members[id]!.encoded(f.inputs[id]!)
        guard case .leave(let error)? = again.first else { Issue.record("a second encoding must end the round: \(again)"); return }
        #expect(error.code == .duplicateMessage)
        #expect(f.members[id]!.delayElapsed().isEmpty, "a left round does nothing more")
    }

    @Test func aWrongSizedEncodingOrAParticipantOnlyMessageEndsTheRound() throws {
        var f = try Federation(n: 3, delay: 0)
        let wrong = try PackedVector(packing: [1, 2, 3], slotWidth: 20)
        guard case .leave(let error)? = f.members[ParticipantID(1)]!.encoded(wrong).first else { Issue.record("expected to leave"); return }
        #expect(error.code == .sizeMismatch)
        guard case .leave(let kindError)? = f.members[ParticipantID(2)]!.receive(.maskedInput, payload: []).first else {
            Issue.record("expected to leave"); return
        }
        #expect(kindError.code == .unexpectedMessage)
    }

    @Test func withoutMaskingTheRotationIsSeededByThePlanAndTheInputGoesPlain() throws {
        var f = try Federation(n: 3, delay: 0, unmasked: true)
        for id in f.coordinator.cohort {
            guard case .encode(let seed)? = f.memberLog[id]?.first else { Issue.record("expected encode first"); return }
            #expect(seed == f.coordinator.agreement.digest)
            f.feed(id, f.members[id]!.encoded(f.inputs[id]!))
        }
        let aggregate = try #require(f.aggregate)
        #expect(aggregate.contributors.count == 3 && aggregate.charge.noiseShares == 0)
    }
}
