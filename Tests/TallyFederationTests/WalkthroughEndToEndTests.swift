import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyParticipant
import TallyTestSupport
import TallyWire
import Testing

/// docs/operations.md, "Walk-through: three organizations from nothing", step by step with the
/// real executables: provision from a description, check and start the coordinator and three
/// organizations from their own folders, renew one organization's certificate mid-federation,
/// and end with every daemon stopped and the ledgers verifying under the CA.
@Suite(.serialized) struct WalkthroughEndToEndTests {
    @Test func aNewOperatorGoesFromNothingToARunningFederationWithTheDocumentedSteps() async throws {
        let directory = try TestDirectories.make("walkthrough")
        let bin = TestEnvironment.executables
        let port = try LocalFederation.freePort()
        // 1. The description, as the docs show it (loopback: the test runs on one machine).
        let description = directory + "/federation.json"
        try """
        {
          "name": "Regional consortium",
          "coordinator": {"host": "127.0.0.1", "port": \(port), "listen": "127.0.0.1"},
          "organizations": ["st-marys", "city-clinic", "general"],
          "operators": ["oncall"],
          "certificateDays": 365
        }
        """.write(toFile: description, atomically: true, encoding: .utf8)

        // 2. Provision.
        let federation = directory + "/federation"
        let provision = try await Subprocess.run(
            bin + "/tally-coordinator",
            ["provision", "--description", description, "--output", federation, "--certs", TestEnvironment.certsScripts])
        #expect(provision.status == 0, "\(provision.output)")
        let organizations = ["st-marys", "city-clinic", "general"]
        for folder in organizations + ["coordinator"] {
            for file in ["cert.pem", "key.pem", "ca.crt", "NEXT-STEPS.md"] {
                #expect(FileManager.default.fileExists(atPath: "\(federation)/\(folder)/\(file)"), "\(folder)/\(file)")
            }
        }
        #expect(FileManager.default.fileExists(atPath: federation + "/operator-oncall/cert.pem"))
        let ids = try JSONDecoder().decode(
            [String: Int].self, from: Data(contentsOf: URL(fileURLWithPath: federation + "/organizations.json")))
        #expect(ids == ["st-marys": 1, "city-clinic": 2, "general": 3])
        let again = try await Subprocess.run(
            bin + "/tally-coordinator",
            ["provision", "--description", description, "--output", federation, "--certs", TestEnvironment.certsScripts])
        #expect(again.output.contains("nothing new"), "provisioning again changes nothing: \(again.output)")

        // 3.–4. The one change a single machine needs (status ports), and a short federation.
        let coordinatorFolder = federation + "/coordinator"
        // Read as the daemon reads it, without the file checks (its paths are relative to its folder).
        var c = try StrictJSON.load(CoordinatorConfiguration.self, path: coordinatorFolder + "/coordinator.json", defaults: .init())
        #expect(c.allowedParticipants == [1, 2, 3] && c.tls.certificate == "./cert.pem" && c.port == port)
        c.status.port = 0
        c.rounds = 5
        c.stageTimeoutSeconds = 20
        c.maskedInputDelaySeconds = 0
        try Data(StrictJSON.encode(c)).write(to: URL(fileURLWithPath: coordinatorFolder + "/coordinator.json"))
        for name in organizations {
            var p = try StrictJSON.load(ParticipantConfiguration.self, path: "\(federation)/\(name)/participant.json", defaults: .init())
            p.status.port = 0
            p.reconnectMaxSeconds = 2
            try Data(StrictJSON.encode(p)).write(to: URL(fileURLWithPath: "\(federation)/\(name)/participant.json"))
            let check = try await Subprocess.run(
                bin + "/tally-participant", ["check-config", "--config", "participant.json"], directory: "\(federation)/\(name)")
            #expect(check.status == 0, "\(name): \(check.output)")
        }
        let check = try await Subprocess.run(
            bin + "/tally-coordinator", ["check-config", "--config", "coordinator.json"], directory: coordinatorFolder)
        #expect(check.status == 0 && check.output.contains("noise multiplier"), "\(check.output)")

        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let coordinator = try Subprocess(
            bin + "/tally-coordinator", ["serve", "--config", "coordinator.json"], directory: coordinatorFolder,
            output: .append(toFile: logs + "/coordinator.log"))
        defer { coordinator.stop() }
        // 5. Each organization starts its daemon from its folder.
        func start(_ name: String) throws -> Subprocess {
            try Subprocess(
                bin + "/tally-participant", ["run", "--config", "participant.json"], directory: "\(federation)/\(name)",
                output: .append(toFile: "\(logs)/\(name).log"))
        }
        var daemons = try organizations.map(start)
        defer { for daemon in daemons { daemon.stop() } }
        let database = coordinatorFolder + "/data/coordinator.sqlite"
        let opened = { FileManager.default.fileExists(atPath: database) ? try? CoordinatorStore(path: database, readOnly: true) : nil }
        #expect(await waitUntil(60) { opened() != nil }, "\(Self.log(logs, "coordinator").suffix(2000))")
        let store = try #require(opened())
        func released() -> [CoordinatorStore.RoundRecord] { ((try? store.rounds()) ?? []).filter { $0.outcome == .released } }
        #expect(await waitUntil(120) { released().count >= 2 }, "two rounds: \(Self.log(logs, "coordinator").suffix(3000))")

        // The status page's API names the organizations.
        let statusURL = try #require(LocalFederation.statusURL(in: Self.log(logs, "coordinator")))
        let api = try await StatusClients.request(statusURL + "api/status")
        let status = try JSONDecoder().decode(CoordinatorStatus.self, from: Data(api.body.utf8))
        #expect(status.participants.sessions.compactMap(\.name).sorted() == organizations.sorted(), "\(api.body.prefix(2000))")

        // 6. Renew city-clinic's certificate and restart its daemon with it.
        let oldCertificate = try String(contentsOfFile: federation + "/city-clinic/cert.pem", encoding: .utf8)
        let renew = try await Subprocess.run(
            bin + "/tally-coordinator",
            ["provision", "--output", federation, "--renew", "city-clinic", "--certs", TestEnvironment.certsScripts])
        #expect(renew.status == 0 && renew.output.contains("participant 2"), "\(renew.output)")
        let newCertificate = try String(contentsOfFile: federation + "/city-clinic/cert.pem", encoding: .utf8)
        #expect(newCertificate != oldCertificate)
        #expect(FileManager.default.fileExists(atPath: federation + "/city-clinic/key.pem.previous"))
        daemons[1].stop()
        let renewedAfter = released().map(\.id).max() ?? 0
        daemons[1] = try start("city-clinic")

        // 7. The rounds finish with the renewed organization in them; every daemon stops.
        #expect(await coordinator.exited(within: .seconds(240)) == 0, "coordinator: \(Self.log(logs, "coordinator").suffix(3000))")
        #expect(released().count == 5)
        #expect(released().contains { $0.id > renewedAfter && $0.contributors == 3 }, "a round with the renewed certificate")
        for (name, daemon) in zip(organizations, daemons) {
            #expect(await daemon.exited(within: .seconds(60)) == 0, "\(name): \(Self.log(logs, name).suffix(2000))")
        }
        let ledger = federation + "/city-clinic/data/privacy-ledger.sqlite"
        let verify = try await Subprocess.run(bin + "/tally-audit", ["verify", ledger, "--ca", federation + "/city-clinic/ca.crt"])
        #expect(verify.status == 0 && verify.output.contains("ledger intact"), "\(verify.output)")
        #expect(verify.output.components(separatedBy: "BEGIN CERTIFICATE").count >= 1)
        let report = try await Subprocess.run(bin + "/tally-audit", ["report", ledger, "--ca", federation + "/city-clinic/ca.crt"])
        #expect(report.status == 0, "\(report.output)")
    }

    static func log(_ logs: String, _ name: String) -> String {
        (try? String(contentsOfFile: "\(logs)/\(name).log", encoding: .utf8)) ?? ""
    }
}
