import TallyCore
import Testing

@testable import TallyLedger

/// A participant's ledger against the coordinator's: the differences an honest run produces are
/// explained as expected; a coordinator that counts an organization it never had a charge from,
/// or charges it less noise than the plan guaranteed, is called out.
@Suite struct LedgerCrosscheckTests {
    /// Participant 2's own entry for `round` (t − c = 3 shares guaranteed).
    func own(_ round: UInt64) -> LedgerEntry {
        var e = entry(round: round, participants: [2])
        e.cohortSize = 3
        e.modelVersion = nil
        return e
    }

    @Test func anHonestRunsDifferencesAreAllExpected() throws {
        // Round 1: counted. Round 2: aborted before unmasking (no coordinator entry). Round 3: its
        // input was left out after it was sent (the coordinator's sum holds 1 and 3). Round 4: it
        // was not in the cohort at all (on neither side as its own).
        let mine = [own(1), own(2), own(3)]
        let theirs = [
            entry(round: 1, participants: [1, 2, 3]), entry(round: 3, participants: [1, 3]), entry(round: 4, participants: [1, 3]),
        ]
        let check = try LedgerCrosscheck(own: mine, coordinator: theirs)
        #expect(check.participant == 2)
        #expect(check.findings == [.counted(round: 1), .chargedNotReleased(round: 2), .chargedNotCounted(round: 3)])
        #expect(check.unexpected.isEmpty)
    }

    @Test func aCoordinatorCountingAnUnchargedOrganizationOrChargingLessNoiseIsCalledOut() throws {
        // Positive control first: the same ledgers agree.
        #expect(try LedgerCrosscheck(own: [own(1), own(2)], coordinator: [entry(round: 1), entry(round: 2)]).unexpected.isEmpty)
        // Round 2 counted without the participant's charge (its ledger lost it, or the coordinator lies).
        let lost = try LedgerCrosscheck(own: [own(1)], coordinator: [entry(round: 1), entry(round: 2)])
        #expect(lost.unexpected == [.countedNotCharged(round: 2)])
        // Round 1 with fewer noise shares than the 3 the plan guaranteed, and another clip norm.
        var weaker = entry(round: 1, noiseShares: 2)
        weaker.clipNorm = 5
        let check = try LedgerCrosscheck(own: [own(1)], coordinator: [weaker])
        guard case .disagrees(1, let what)? = check.unexpected.first else {
            Issue.record("expected a disagreement, got \(check.findings)")
            return
        }
        #expect(what.contains("fewer than the 3") && what.contains("clip norm 5.0"), "\(what)")
        // Two entries for one round on the coordinator's side.
        #expect(try LedgerCrosscheck(own: [own(1)], coordinator: [entry(round: 1), entry(round: 1)]).unexpected.count == 1)
    }

    @Test func aLedgerOfSeveralParticipantsIsNotAParticipantsOwn() {
        #expect(throws: TallyError.self) { try LedgerCrosscheck(own: [entry(round: 1)], coordinator: []) }
    }
}
