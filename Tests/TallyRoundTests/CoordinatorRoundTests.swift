import TallyCore
import TallyModel
import TallyRound
import TallySecAgg
import Testing

/// The coordinator's round logic in process: every stage, every way it closes (all answered,
/// members leaving, deadlines), every abort, and what each outcome charges.
@Suite struct CoordinatorRoundTests {
    @Test func aRoundWithEveryoneAnsweringClosesEachStageWithoutDeadlines() throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 5))
        try round.start()
        #expect(round.stages == [.keys, .shares, .maskedInputs, .consistency, .unmasking, .releasing])
        let aggregate = try #require(round.aggregate)
        #expect(aggregate.contributors == round.ids)
        #expect(aggregate.sum.unpacked() == round.expectedSum(round.ids))
        // c = 1 of the 5 counted inputs may be a colluder without noise: 4 shares proven.
        #expect(aggregate.charge.noiseShares == 4 && aggregate.charge.participants == [1, 2, 3, 4, 5])
        #expect(round.abort == nil && round.refusals.isEmpty)
        #expect(round.machine.stage == .releasing && round.machine.outstanding.isEmpty)
    }

    @Test(arguments: [RoundStage.keys, .shares, .maskedInputs, .consistency, .unmasking])
    func aSilentMemberHoldsTheStageUntilItsDeadline(stage: RoundStage) throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 5))
        let silent = ParticipantID(3)
        round.silentFrom[silent] = stage
        try round.start()
        #expect(round.machine.stage == stage, "the stage waits for member 3")
        #expect(round.machine.outstanding == [silent])
        #expect(round.aggregate == nil)
        // A deadline armed for an earlier stage passes late: ignored.
        if let earlier = RoundStage.allCases.last(where: { $0 < stage }) {
            #expect(round.machine.deadlinePassed(earlier).isEmpty)
        }
        try round.run(round.machine.deadlinePassed(stage))
        let aggregate = try #require(round.aggregate, "4 of 5 answered; t = 4: the round goes on")
        // Dropped before its masked input: not in the sum. Later: its input is in the sum.
        let expected = stage <= .maskedInputs ? round.ids.filter { $0 != silent } : round.ids
        #expect(aggregate.contributors == expected)
        #expect(aggregate.sum.unpacked() == round.expectedSum(expected))
        #expect(aggregate.charge.noiseShares == expected.count - 1)
    }

    @Test func aMemberThatLeavesIsNotWaitedFor() throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 5))
        round.silentFrom[ParticipantID(2)] = .shares
        try round.start()
        #expect(round.machine.stage == .shares)
        // It declines or disconnects: the stage closes at once, no deadline needed.
        try round.run(round.machine.left(ParticipantID(2)))
        let aggregate = try #require(round.aggregate)
        #expect(aggregate.contributors == [1, 3, 4, 5].map { ParticipantID($0) })
    }

    @Test(arguments: [RoundStage.keys, .shares, .maskedInputs, .consistency, .unmasking])
    func tooFewAtTheDeadlineAbortsAndChargesNothing(stage: RoundStage) throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 5))
        // t = 4 of 5 (c = 1): two silent members leave 3.
        round.silentFrom[ParticipantID(1)] = stage
        round.silentFrom[ParticipantID(4)] = stage
        try round.start()
        try round.run(round.machine.deadlinePassed(stage))
        let abort = try #require(round.abort)
        #expect(abort.error.code == .belowThreshold)
        #expect(abort.charge == nil, "nothing was unmasked")
        #expect(round.aggregate == nil && round.machine.stage == .aborted)
        // Nothing after an abort does anything.
        #expect(round.machine.left(ParticipantID(2)).isEmpty && round.machine.deadlinePassed(stage).isEmpty)
    }

    @Test func aFailureAfterTheSumIsKnownChargesWhatWasLearned() throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 4, policy: RoundHarness.policy(collusionMargin: 0)))
        try round.start()
        let aggregate = try #require(round.aggregate)
        let actions = round.machine.fail(TallyError(.integrityFailure, "disk full"))
        guard case .abort(let error, let charge)? = actions.first else { Issue.record("expected an abort, got \(actions)"); return }
        #expect(error.code == .integrityFailure)
        #expect(charge == aggregate.charge && charge?.noiseShares == 4)
    }

    @Test func aFailureAfterTheLedgerEntryChargesNothingTwice() throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 4))
        try round.start()
        round.machine.charged()
        guard case .abort(_, let charge)? = round.machine.fail(TallyError(.integrityFailure, "registry unwritable")).first else {
            Issue.record("expected an abort"); return
        }
        #expect(charge == nil)
        // A released round cannot fail any more.
        var released = try RoundHarness(agreement: RoundHarness.agreement(n: 4))
        try released.start()
        released.machine.charged()
        released.machine.released()
        #expect(released.machine.fail(TallyError(.integrityFailure, "late")).isEmpty)
    }

    @Test func messagesSpeakingForAnotherOrOfTheWrongKindAreRefused() throws {
        var round = try RoundHarness(agreement: RoundHarness.agreement(n: 4))
        _ = round.machine.start()
        let advertisement = try round.participants[ParticipantID(1)]!.advertiseKeys()
        // Member 2 relays member 1's advertisement: refused, member 1 still awaited.
        let relayed = round.machine.receive(.keyAdvertisement, payload: advertisement.serialized(), from: ParticipantID(2))
        guard case .refused(let who, let error)? = relayed.first else { Issue.record("expected a refusal, got \(relayed)"); return }
        #expect(who == ParticipantID(2) && error.code == .permissionDenied)
        let coordinatorOnly = round.machine.receive(.keyDirectory, payload: [1, 2, 3], from: ParticipantID(1))
        guard case .refused(_, let kindError)? = coordinatorOnly.first else { Issue.record("expected a refusal"); return }
        #expect(kindError.code == .unexpectedMessage)
        // Outsiders are not heard at all.
        #expect(round.machine.receive(.keyAdvertisement, payload: advertisement.serialized(), from: ParticipantID(99)).isEmpty)
        #expect(round.machine.outstanding == round.ids)
    }

    @Test func aRoundWithoutMaskingSumsPlainInputsAndChargesNoNoise() throws {
        var round = try RoundHarness(
            agreement: RoundHarness.agreement(n: 3, policy: RoundHarness.policy(collusionMargin: 0, unmasked: true)))
        try round.start()
        #expect(round.stages == [.maskedInputs, .releasing])
        let aggregate = try #require(round.aggregate)
        #expect(aggregate.sum.unpacked() == round.expectedSum(round.ids))
        #expect(aggregate.rotationSeed == round.machine.agreement.digest)
        #expect(aggregate.charge.noiseShares == 0, "each input was seen on its own: ε = ∞")
    }
}
