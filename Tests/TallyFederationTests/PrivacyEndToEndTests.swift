import Foundation
import GRDB
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyTestSupport
import TallyWire
import Testing

/// Differential privacy across real processes: the coordinator's ledger, the participants' own
/// ledgers, a participant that runs out of budget, and the auditor's CLI on the results.
extension FederationEndToEndTests {
    @Test func budgetExhaustedParticipantDeclinesAndLedgersAudit() async throws {
        let federation = try makeFederation("budget", participants: 5, rounds: 2, minParticipants: 4)
        defer { federation.stopAll() }
        // Participant 5 allows itself less than one round costs (the target is ε = 10 over 2 rounds).
        try setBudget(federation, participant: 5, epsilon: 1)

        // 5 connects first so that it is in round 1's cohort; it declines, and round 2 skips it.
        let coordinator = try federation.startCoordinator()
        try federation.startParticipant(5)
        #expect(
            await waitUntil(90) {
                readLog(federation, "coordinator").split(separator: "\n").contains {
                    $0.contains("participant connected") && $0.contains("participant=5")
                }
            })
        for i in 1...4 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 150), "the coordinator should finish both rounds")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")

        let store = try #require(openStore(federation))
        let rounds = try store.rounds().filter { $0.outcome == .released }
        // Round 1's cohort holds 5 (and 3 or 4 of the others, depending on who had connected):
        // 5 declines and is not counted. Round 2's cohort leaves 5 out, so nobody declines.
        try #require(rounds.count == 2)
        #expect(rounds[0].contributors == rounds[0].cohort - 1, "5 declined round 1")
        #expect(rounds[1].contributors == rounds[1].cohort && rounds[1].cohort <= 4, "round 2 was not offered to 5")
        let declined = readLog(federation, "participant-5")
        #expect(declined.contains(TallyError.Code.privacyBudgetExhausted.rawValue), "participant 5 log:\n\(declined)")
        #expect(
            declined.components(separatedBy: "declining round").count == 2, "5 declined exactly once; the coordinator skipped it afterwards"
        )
        #expect(readLog(federation, "coordinator").contains("participant declined the round"))

        // The coordinator's ledger: one entry per release, before publication, never counting 5.
        let ledger = try PrivacyLedger.openForAudit(path: federation.coordinatorLedger)
        #expect(try ledger.verify().isIntact)
        let entries = try ledger.entries()
        #expect(entries.count == 2)
        let versions = try store.versions()
        for entry in entries {
            #expect(!entry.participants.contains(5) && entry.noiseShares == entry.participants.count - 1 && entry.participants.count >= 3) // c = 1
            #expect(entry.noiseMultiplier > 0 && entry.effectiveNoiseMultiplier >= entry.noiseMultiplier)
            #expect(versions.contains { $0.version == entry.modelVersion && $0.modelHash == entry.modelHash })
        }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let federationEpsilon = try #require(report.rows.first { $0.participant == nil }?.epsilonRDP)
        #expect(federationEpsilon > 0 && federationEpsilon <= 10, "ε after the planned rounds stays within the target")

        // Each participant's own ledger holds exactly the rounds it was counted in; 5's is empty.
        for i in 1...4 {
            let own = try PrivacyLedger.openForAudit(path: federation.participantLedger(i))
            #expect(try own.verify().isIntact)
            let counted = entries.filter { $0.participants.contains(UInt32(i)) }.map(\.roundID)
            #expect(try own.entries().map(\.roundID).sorted() == counted.sorted())
        }
        #expect(try PrivacyLedger.openForAudit(path: federation.participantLedger(5)).entries().isEmpty)

        // The auditor's CLI: intact → 0; one byte changed in a copy → non-zero.
        let audit = TestEnvironment.executables + "/tally-audit"
        #expect(try await run(audit, ["verify", federation.coordinatorLedger, "--ca", federation.pki + "/ca/ca.crt"]) == 0)
        #expect(try await run(audit, ["report", federation.coordinatorLedger, "--format", "json"]) == 0)
        let copy = federation.options.directory + "/tampered-ledger.sqlite"
        try FileManager.default.copyItem(atPath: federation.coordinatorLedger, toPath: copy)
        try await DatabaseQueue(path: copy).write { db in
            let table = try String.fetchOne(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%body%'")!
            try db.execute(
                sql: "UPDATE \(table) SET body = CAST(REPLACE(CAST(body AS TEXT), '\"cohortSize\":4', '\"cohortSize\":3') AS BLOB)")
            #expect(db.changesCount > 0)
        }
        #expect(try await run(audit, ["verify", copy]) != 0)
    }

    /// Killed after the ledger entry and before publication: the ledger over-counts (an entry for
    /// a version never published), which is safe; every published version has its entry.
    @Test func crashBetweenLedgerAndPublishOverCountsButNeverUnderCounts() async throws {
        let federation = try makeFederation("ledger-crash", participants: 3, rounds: 1)
        defer { federation.stopAll() }
        // Room for the crashed round and its retry: each participant charged itself for both.
        for i in 1...3 { try setBudget(federation, participant: i, epsilon: 100) }
        var coordinator = try federation.startCoordinator(environment: ["TALLY_FAULT_INJECTION": "exit-after-ledger-append"])
        for i in 1...3 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 120))
        #expect(coordinator.exitStatus == 87, "coordinator log:\n\(readLog(federation, "coordinator"))")
        let before = try #require(openStore(federation))
        #expect(try before.latestVersion()?.version == 0, "nothing was published")
        #expect(try PrivacyLedger.openForAudit(path: federation.coordinatorLedger).entries().count == 1)

        // Restarted as it was: the crashed round is on the ledger, and a restart does not start a
        // new budget — the retry is planned within what the target has left (much more noise).
        coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 120), "coordinator log:\n\(readLog(federation, "coordinator"))")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")
        let store = try #require(openStore(federation))
        let ledger = try PrivacyLedger.openForAudit(path: federation.coordinatorLedger)
        #expect(try ledger.verify().isIntact, "the chain continues across the crash")
        let entries = try ledger.entries()
        let published = try store.versions().filter { $0.version > 0 }
        #expect(published.count == 1 && entries.count == 2)
        #expect(try PrivacyReport.epsilonRDP(entries: entries, delta: 1e-5) <= 10, "the target (ε = 10) holds across the crash")
        #expect(
            entries.count == 2 && entries[1].noiseMultiplier > 10 * entries[0].noiseMultiplier, "the retry only had the rest of the target")
        for version in published {
            #expect(entries.contains { $0.modelHash == version.modelHash && $0.modelVersion == version.version })
        }
        // The orphan entry names version 1 and the hash of a model never published; the retry is
        // published as version 2 (parent 0), so no version number stands for two models.
        #expect(entries[0].modelVersion == 1 && published.first?.version == 2 && published.first?.parent == 0)
        #expect(try store.versions().allSatisfy { $0.modelHash != entries[0].modelHash })
        let numbers = entries.compactMap(\.modelVersion)
        #expect(Set(numbers).count == numbers.count, "version numbers on the ledger: \(numbers)")
        // Each organization's own ledger against the coordinator's: every difference explained.
        let audit = TestEnvironment.executables + "/tally-audit"
        for i in 1...3 {
            let crosscheck = try await Subprocess.run(
                audit,
                ["crosscheck", federation.participantLedger(i), federation.coordinatorLedger, "--ca", federation.pki + "/ca/ca.crt"],
                timeout: .seconds(60))
            #expect(crosscheck.status == 0 && crosscheck.output.contains("0 differ unexpectedly"), "\(crosscheck.output)")
        }
    }

    /// A round that aborts after the coordinator unmasked the sum publishes nothing, but what the
    /// coordinator learned is charged to its ledger all the same (no version, the base model).
    @Test func roundAbortedAfterUnmaskingIsStillCharged() async throws {
        let federation = try makeFederation("abort-after-unmask", participants: 3, rounds: 1)
        defer { federation.stopAll() }
        for i in 1...3 { try setBudget(federation, participant: i, epsilon: 100) }
        let coordinator = try federation.startCoordinator(environment: ["TALLY_FAULT_INJECTION": "abort-after-unmask"])
        for i in 1...3 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 120), "coordinator log:\n\(readLog(federation, "coordinator"))")
        let rounds = try #require(openStore(federation)).rounds().sorted { $0.id < $1.id }
        #expect(
            rounds.first?.outcome == .aborted && rounds.last?.outcome == .released,
            "coordinator log:\n\(readLog(federation, "coordinator"))")
        let entries = try PrivacyLedger.openForAudit(path: federation.coordinatorLedger).entries()
        #expect(entries.count == 2)
        #expect(entries.first?.roundID == UInt64(rounds.first?.id ?? -1) && entries.first?.modelVersion == nil)
        #expect(entries.last?.modelVersion == 1)
    }

    /// A coordinator that asks for unmasked or noise-free updates gets them only from daemons
    /// configured for benchmarks; a daemon on real data declines.
    @Test func participantRefusesUnmaskedPlansUnlessConfiguredForBenchmarks() async throws {
        // Four, so that the three benchmark daemons still reach the threshold (t = 3 with c = 1).
        let federation = try makeFederation("insecure", participants: 4, rounds: 1, minParticipants: 4, insecure: true)
        defer { federation.stopAll() }
        let path = federation.participantConfig(3)
        var settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(settings["allowInsecureBenchmarkRounds"] as? Bool == true)
        settings["allowInsecureBenchmarkRounds"] = false
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: path))
        let coordinator = try federation.startCoordinator()
        for i in 1...4 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 120), "coordinator log:\n\(readLog(federation, "coordinator"))")
        let log = readLog(federation, "participant-3")
        #expect(log.contains("declining round") && log.contains("without masking"), "participant 3 log:\n\(log)")
        let released = try #require(openStore(federation)).rounds().filter { $0.outcome == .released }
        #expect(released.count == 1 && released[0].contributors == 3, "the three benchmark daemons still complete the round")
        // Each of them charged the round as unprotected (no masking: ε = ∞) in its own ledger.
        let entries = try PrivacyLedger.openForAudit(path: federation.participantLedger(1)).entries()
        #expect(entries.count == 1 && entries[0].isNoiseless)
        // The version's lineage says there is no finite ε for it.
        let finalStore = try #require(openStore(federation))
        let version = try #require(try finalStore.latestVersion())
        let manifest = try JSONDecoder().decode(ModelManifest.self, from: Data(version.manifest))
        #expect(manifest.lineage != nil && manifest.lineage?.epsilonSpent == nil)
    }

    private func setBudget(_ federation: LocalFederation, participant: Int, epsilon: Double) throws {
        let path = federation.participantConfig(participant)
        var settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        settings["privacyBudget"] = ["epsilon": epsilon, "delta": 1e-5]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: path))
    }

    private func run(_ executable: String, _ arguments: [String]) async throws -> Int32 {
        try await Subprocess.run(executable, arguments, timeout: .seconds(60)).status
    }
}
