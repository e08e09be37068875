import Foundation
import TallyCore
import TallyLocalFederation
import TallyParticipant
import TallyTestSupport
import Testing

/// A refusal that retrying cannot fix ends the daemon with a reason a site can act on, after a
/// bounded number of attempts, instead of a warning repeated forever.
@Suite(.serialized) struct PermanentFailureTests {
    /// Participant `i`'s configuration with `change` applied, written back.
    func edit(_ federation: LocalFederation, _ i: Int, _ change: (inout ParticipantConfiguration) -> Void) throws {
        var configuration = try ParticipantConfiguration.load(path: federation.participantConfig(i))
        change(&configuration)
        try Data(StrictJSON.encode(configuration)).write(to: URL(fileURLWithPath: federation.participantConfig(i)))
    }

    @Test func aParticipantThatDoesNotTrustTheCoordinatorGivesUpNamingItsCAFile() async throws {
        let federation = try makeFederation("foreign-ca", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        let other = try makeFederation("other-ca", participants: 1, rounds: 1)
        defer { other.stopAll() }
        let foreignCA = other.pki + "/participant-1/ca.crt"
        try edit(federation, 1) {
            $0.tls.certificateAuthority = foreignCA
            $0.permanentFailureAttempts = 2
            $0.reconnectInitialSeconds = 0.05
            $0.reconnectMaxSeconds = 0.2
        }
        // Positive control: participant 2, configured rightly, is still trying when 1 has given up.
        try edit(federation, 2) {
            $0.reconnectInitialSeconds = 0.05
            $0.reconnectMaxSeconds = 0.2
        }
        let coordinator = try federation.startCoordinator()
        let wrong = try federation.startParticipant(1)
        let right = try federation.startParticipant(2)
        let status = await wrong.exited(within: .seconds(60))
        let log = readLog(federation, "participant-1")
        #expect(status == 2, "participant log:\n\(log)")
        #expect(log.contains("giving up after 2 refused connections"), "participant log:\n\(log)")
        #expect(log.contains(foreignCA), "the reason names the CA file:\n\(log)")
        #expect(right.isRunning && coordinator.isRunning)
        // The coordinator saw the refused handshake too, with the peer's address.
        let coordinatorLog = readLog(federation, "coordinator")
        #expect(
            coordinatorLog.contains("TLS handshake refused") && coordinatorLog.contains("127.0.0.1")
                && coordinatorLog.contains("does not trust the coordinator's certificate"),
            "coordinator log:\n\(coordinatorLog)")
    }

    @Test func aClientFromAForeignCAIsLoggedByTheCoordinatorAndGivesUp() async throws {
        let federation = try makeFederation("foreign-client", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        let other = try makeFederation("foreign-client-ca", participants: 1, rounds: 1)
        defer { other.stopAll() }
        let foreignCertificate = other.pki + "/participant-1/cert.pem"
        try edit(federation, 1) {
            $0.tls.certificate = foreignCertificate
            $0.tls.privateKey = other.pki + "/participant-1/key.pem"
            $0.permanentFailureAttempts = 2
            $0.reconnectInitialSeconds = 0.05
            $0.reconnectMaxSeconds = 0.2
        }
        let coordinator = try federation.startCoordinator()
        let foreign = try federation.startParticipant(1)
        let status = await foreign.exited(within: .seconds(60))
        let log = readLog(federation, "participant-1")
        #expect(status == 2, "participant log:\n\(log)")
        #expect(
            log.contains("does not accept this organization's certificate") && log.contains(foreignCertificate), "participant log:\n\(log)")
        let coordinatorLog = readLog(federation, "coordinator")
        #expect(
            coordinatorLog.contains("TLS handshake refused") && coordinatorLog.contains("not issued by the federation CA"),
            "coordinator log:\n\(coordinatorLog)")
        #expect(!coordinatorLog.contains(".c:"), "no BoringSSL source paths in the log:\n\(coordinatorLog)")
        #expect(coordinator.isRunning)
    }
}
