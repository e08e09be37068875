import Foundation
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyModel
import TallyTestSupport
import TallyWire
import Testing

/// Record-level DP across real processes: each organization sends its sampled records' clipped
/// gradient sum, the ledgers charge records with the sampling rate, an organization-level budget
/// refuses the rounds and a record-level budget stops its organization as in the organization unit.
extension FederationEndToEndTests {
    @Test func recordLevelFederationChargesRecordsAndBudgetsStillStop() async throws {
        let federation = try makeFederation("records", participants: 6, rounds: 3, minParticipants: 4) { options in
            options.privacy = PrivacySettings(targetEpsilon: 3, delta: 1e-5)
            options.privacy.unit = .record
            options.privacy.samplingRate = 0.02
            options.privacy.expectedBatchSize = 1_200
            options.valueBits = 30
            options.clipNorm = 1
            options.participantBudgetUnit = .record
            options.evaluation = true
            options.serverOptimizer = ServerOptimizer.Settings(kind: .fedAvgM, learningRate: 1)
        }
        defer { federation.stopAll() }
        // 5 protects the organization as a whole: it must refuse record-level rounds. 6 allows
        // itself almost nothing: its budget stops it, as in the organization unit.
        try editParticipant(federation, 5) { $0["privacyBudget"] = ["epsilon": 15, "delta": 1e-5, "unit": "organization"] }
        try editParticipant(federation, 6) { $0["privacyBudget"] = ["epsilon": 0.001, "delta": 1e-5, "unit": "record"] }

        let coordinator = try federation.startCoordinator()
        for i in 1...6 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 240), "the coordinator should finish its 3 rounds")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")

        let store = try #require(openStore(federation))
        let released = try store.rounds().filter { $0.outcome == CoordinatorStore.RoundOutcome.released }
        #expect(released.count == 3)
        let refused = readLog(federation, "participant-5")
        #expect(refused.contains("record-level") && refused.contains("declining round"), "participant 5 log:\n\(refused)")
        #expect(readLog(federation, "participant-6").contains(TallyError.Code.privacyBudgetExhausted.rawValue))
        #expect(readLog(federation, "participant-1").contains("summed the sampled records' clipped gradients"))

        // Every entry is record-level with the plan's q; 5 and 6 are in none.
        let entries = try PrivacyLedger.openForAudit(path: federation.coordinatorLedger).entries()
        #expect(entries.count == 3)
        for entry in entries {
            #expect(entry.privacyUnit == LedgerEntry.recordUnit && entry.samplingRate == 0.02)
            // The cohort is 1...4; one may miss a deadline on a loaded machine (t = 3).
            #expect(!entry.participants.contains(5) && !entry.participants.contains(6) && (3...4).contains(entry.participants.count))
        }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        #expect(report.privacyUnits == [LedgerEntry.recordUnit] && report.neighbouringRelation.contains("record"))
        let epsilon = try #require(report.rows.first { $0.participant == nil }?.epsilonRDP)
        #expect(epsilon > 0 && epsilon <= 3, "ε = \(epsilon) after the planned rounds stays within the target")
        // Organization 1 charges itself before its masked input leaves: for every released round it
        // is counted in, and for any it sent to that was then aborted or that it missed a deadline in.
        let own = try PrivacyLedger.openForAudit(path: federation.participantLedger(1)).entries()
        let countedIn = entries.filter { $0.participants.contains(1) }.count
        #expect(
            own.count >= countedIn && !own.isEmpty
                && own.allSatisfy { $0.privacyUnit == LedgerEntry.recordUnit && $0.samplingRate == 0.02 },
            "own ledger \(own.count) entries, counted in \(countedIn) released rounds")

        // DP-SGD learns: three noisy steps from the all-zero model (accuracy 0.1) land well above
        // chance (0.39 to 0.6 seen; the noise is drawn afresh every run).
        let accuracy = try #require(try store.latestVersion()?.accuracy)
        #expect(accuracy > 0.2, "accuracy after 3 record-level rounds: \(accuracy) (chance 0.1)")

        let table: Subprocess.Completion = try await Subprocess.run(
            TestEnvironment.executables + "/tally-audit", ["report", federation.coordinatorLedger], timeout: .seconds(60))
        #expect(table.status == 0 && table.output.contains("privacy unit: record"), "\(table.output)")
    }

    private func editParticipant(_ federation: LocalFederation, _ i: Int, _ change: (inout [String: Any]) -> Void) throws {
        let path = federation.participantConfig(i)
        var settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        change(&settings)
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: path))
    }
}
