import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyTestSupport
import Testing

/// A participant that lets a stage deadline pass (here: a process stopped with SIGSTOP, which
/// keeps its connection open) is left out of the next cohorts until it answers, instead of making
/// every round wait a full deadline; once it runs again it answers the coordinator's ping and is
/// scheduled again.
@Suite(.serialized) struct LivenessEndToEndTests {
    @Test func aStoppedParticipantIsLeftOutUntilItAnswersAgain() async throws {
        // Rounds until stopped, without noise (benchmark mode): the test decides when it ends. The
        // benchmark's synthetic task trains nothing, so no honest participant misses a deadline
        // because four of them train at once on a loaded machine.
        let federation = try makeFederation("liveness", participants: 4, rounds: 0, stageTimeout: 6, minParticipants: 3) { options in
            options.syntheticDimension = 1_000
            options.privacy = PrivacySettings(targetEpsilon: nil, noiseMultiplier: 0)
            options.maskedInputDelaySeconds = 0
        }
        defer { federation.stopAll() }
        _ = try federation.startCoordinator()
        var participants: [Subprocess] = []
        for i in 1...4 { participants.append(try federation.startParticipant(i)) }
        let store = try #require(await waitUntil(60) { openStore(federation) != nil } ? openStore(federation) : nil)
        func released() -> [CoordinatorStore.RoundRecord] { ((try? store.rounds()) ?? []).filter { $0.outcome == .released } }
        #expect(await waitUntil(60) { released().contains { $0.cohort == 4 } }, "a round with all four")

        // Participant 4 stops answering; its connection stays open.
        kill(participants[3].processIdentifier, SIGSTOP)
        // Whatever fails below, the process is not left stopped (SIGTERM waits for it to run).
        defer { kill(participants[3].processIdentifier, SIGCONT) }
        let stoppedAfter = released().map(\.id).max() ?? 0
        #expect(
            await waitUntil(90) { released().filter { $0.id > stoppedAfter && $0.cohort == 3 }.count >= 3 },
            "rounds go on without it, three of them with a cohort of three")
        let log = readLog(federation, "coordinator")
        #expect(log.contains("left out of cohorts until they answer") && log.contains("participants=[4]"), "\(log.suffix(3000))")
        // At most the round it was stopped in waited for it.
        let waited = ((try? store.rounds()) ?? []).filter { $0.id > stoppedAfter && $0.cohort == 4 }
        #expect(waited.count <= 2, "rounds that planned participant 4 after it stopped: \(waited.map(\.id))")

        // It runs again: it answers the ping and is scheduled again.
        kill(participants[3].processIdentifier, SIGCONT)
        let resumedAfter = released().map(\.id).max() ?? 0
        #expect(
            await waitUntil(90) { released().contains { $0.id > resumedAfter && $0.cohort == 4 && $0.contributors == 4 } },
            "a round with all four again")
        #expect(readLog(federation, "coordinator").contains("participant answered again"))
        #expect(readLog(federation, "participant-4").contains("asked whether this participant is alive"))
    }

    /// A certificate revoked while its participant is connected takes effect on the open session:
    /// the coordinator re-reads the revocation list before every round, closes the session, and
    /// the participant's reconnects are refused. Before, a revoked site kept contributing until it
    /// reconnected on its own.
    @Test func aCertificateRevokedWhileConnectedEndsItsSession() async throws {
        let federation = try makeFederation("live-revocation", participants: 4, rounds: 0, stageTimeout: 10, minParticipants: 3) {
            options in
            options.privacy = PrivacySettings(targetEpsilon: nil, noiseMultiplier: 0)
            options.maskedInputDelaySeconds = 0
        }
        defer { federation.stopAll() }
        _ = try federation.startCoordinator()
        for i in 1...4 { try federation.startParticipant(i) }
        let store = try #require(await waitUntil(60) { openStore(federation) != nil } ? openStore(federation) : nil)
        func released() -> [CoordinatorStore.RoundRecord] { ((try? store.rounds()) ?? []).filter { $0.outcome == .released } }
        #expect(await waitUntil(60) { released().contains { $0.contributors == 4 } }, "a round with all four")

        try federation.runScript(
            federation.options.certsScripts + "/revoke-certificate.sh", [federation.pki, federation.pki + "/participant-4/cert.pem"])
        let revokedAfter = released().map(\.id).max() ?? 0
        #expect(
            await waitUntil(60) {
                readLog(federation, "coordinator").contains("closed a participant's session: its certificate no longer admits it")
            },
            "the open session is closed")
        // Rounds go on with the other three; participant 4 is never counted again.
        #expect(await waitUntil(60) { released().filter { $0.id > revokedAfter + 1 }.count >= 3 })
        let later = released().filter { $0.id > revokedAfter + 1 }
        #expect(later.allSatisfy { $0.cohort == 3 && $0.contributors == 3 }, "\(later.map { ($0.id, $0.cohort, $0.contributors) })")
        #expect(readLog(federation, "coordinator").contains("participant=4"))
        #expect(readLog(federation, "participant-4").contains("revoked"), "the participant is told why")
    }
}
