import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyTestSupport
import TallyWire
import Testing

/// The live status servers with real processes: the coordinator's and a participant's pages in
/// headless Chromium, `/metrics` through the Prometheus text parser, and the operator actions
/// over mutual TLS.
@Suite(.serialized) struct StatusServerEndToEndTests {
    /// A federation that runs until stopped, with noise (ε grows on every ledger).
    func runningFederation(_ name: String, configure: (inout CoordinatorConfiguration) -> Void = { _ in }) async throws -> (
        LocalFederation, CoordinatorStore, [Subprocess]
    ) {
        let federation = try makeFederation(name, participants: 3, rounds: 0, stageTimeout: 20, minParticipants: 2) { options in
            options.privacy = PrivacySettings(targetEpsilon: nil, noiseMultiplier: 3)
            options.maskedInputDelaySeconds = 0
            options.evaluation = true
            options.heldOutFraction = 0.1
            options.participantBudgetEpsilon = 1000
        }
        var c = federation.coordinatorConfiguration()
        configure(&c)
        try Data(StrictJSON.encode(c)).write(to: URL(fileURLWithPath: federation.coordinatorConfig))
        _ = try federation.startCoordinator()
        let participants = try (1...3).map { try federation.startParticipant($0) }
        let store = try #require(await waitUntil(60) { openStore(federation) != nil } ? openStore(federation) : nil)
        return (federation, store, participants)
    }

    func released(_ store: CoordinatorStore) -> Int { ((try? store.rounds()) ?? []).filter { $0.outcome == .released }.count }

    @Test func theStatusPagesShowTheLiveFederationInABrowserAndTheMetricsParse() async throws {
        let (federation, store, _) = try await runningFederation("status-pages")
        defer { federation.stopAll() }
        #expect(await waitUntil(120) { released(store) >= 3 }, "three released rounds: \(readLog(federation, "coordinator").suffix(2000))")
        let coordinatorURL = try #require(federation.statusURL(log: "coordinator"))
        let participantURL = try #require(federation.statusURL(log: "participant-2"))
        #expect(coordinatorURL.hasPrefix("http://127.0.0.1:") && participantURL.hasPrefix("http://127.0.0.1:"))

        // The JSON API: the numbers the page must show.
        let api = try await StatusClients.request(coordinatorURL + "api/status")
        #expect(api.status == 200, "\(api.body)")
        let status = try JSONDecoder().decode(CoordinatorStatus.self, from: Data(api.body.utf8))
        #expect(status.participants.connected == 3 && status.participants.sessions.map(\.id) == [1, 2, 3])
        #expect(status.federation.releasedRounds >= 3 && status.privacy.epsilonSpent > 0)
        #expect(status.rounds.first { $0.outcome == "released" }?.epsilon != nil, "released rounds carry their ε")
        #expect(status.versions.contains { $0.testAccuracy != nil && $0.lineage?.epsilonSpent != nil })

        // /metrics, parsed by the Prometheus client library's own parser.
        let metrics = try await StatusClients.request(coordinatorURL + "metrics")
        #expect(metrics.status == 200)
        let samples = try await StatusClients.parsePrometheus(metrics.body, directory: federation.options.directory)
        #expect((samples[#"tally_rounds_total{outcome="released"}"#] ?? 0) >= 3, "\(samples.keys.sorted())")
        #expect(samples["tally_participants_connected"] == 3)
        #expect(samples["tally_epsilon_spent"].map { $0 >= status.privacy.epsilonSpent - 1e-9 } == true)
        #expect(samples["tally_delta"] == status.privacy.delta)
        #expect(samples.keys.contains { $0.hasPrefix("tally_stage_seconds") }, "stage durations")
        // The federated evaluation: NaN until a version has one (with three organizations its
        // noisy count can be non-positive, and then there is no metric), else within [0, 1].
        #expect(samples["tally_validation_accuracy"].map { $0.isNaN || ($0 >= 0 && $0 <= 1) } == true, "\(samples.keys.sorted())")

        // The coordinator's page in a real browser at phone width: live numbers, no console errors.
        let screenshots = federation.options.directory + "/screenshots"
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        let page = try await StatusClients.render(
            coordinatorURL, screenshot: screenshots + "/coordinator.png", profile: federation.options.directory + "/chromium")
        #expect(page.console.isEmpty, "console: \(page.console)")
        let shownRound = try #require(Self.card("released", in: page.dom))
        #expect(Int(shownRound) ?? 0 >= 3, "released card: \(shownRound)")
        #expect(Self.card("connected", in: page.dom) == "3")
        let shownEpsilon = try #require(Self.card("epsilon", in: page.dom).flatMap { Double($0) })
        #expect(shownEpsilon >= status.privacy.epsilonSpent - 0.001, "ε on the page \(shownEpsilon), API \(status.privacy.epsilonSpent)")
        for id in ["participants", "rounds", "versions", "plot-accuracy", "plot-epsilon"] {
            #expect(page.dom.contains("id=\"\(id)\""), "element \(id)")
        }
        #expect(page.dom.contains("<polyline"), "a plotted series")
        #expect(Self.rows(of: "participants", in: page.dom) == 3)
        let shot = try FileManager.default.attributesOfItem(atPath: screenshots + "/coordinator.png")[.size] as? Int ?? 0
        #expect(shot > 10_000, "screenshot \(screenshots)/coordinator.png: \(shot) bytes")

        // The participant's page: its ε against its budget, its rounds.
        let own = try await StatusClients.request(participantURL + "api/status")
        let participant = try JSONDecoder().decode(ParticipantStatusView.self, from: Data(own.body.utf8))
        #expect(participant.participant == 2 && participant.connected && participant.epsilonSpent > 0)
        let participantPage = try await StatusClients.render(
            participantURL, screenshot: screenshots + "/participant-2.png", profile: federation.options.directory + "/chromium-2")
        #expect(participantPage.console.isEmpty, "console: \(participantPage.console)")
        #expect(Self.card("connection", in: participantPage.dom) == "connected")
        let budget = try #require(Self.card("epsilon", in: participantPage.dom))
        #expect(budget.hasSuffix("/ 1000.0") && (Double(budget.split(separator: " ")[0]) ?? 0) > 0, "\(budget)")
        #expect(Self.rows(of: "rounds", in: participantPage.dom) >= 3)
        #expect(Self.rows(of: "evaluations", in: participantPage.dom) >= 1, "the last local evaluation")
        let participantMetrics = try await StatusClients.parsePrometheus(
            try await StatusClients.request(participantURL + "metrics").body, directory: federation.options.directory)
        #expect(participantMetrics["tally_participant_epsilon_spent"].map { $0 > 0 } == true, "\(participantMetrics)")
        #expect(participantMetrics["tally_participant_epsilon_budget"] == 1000)
    }

    /// The console check can fail: a page with a script error and a missing image is caught
    /// (positive control for "no console errors").
    @Test func theBrowserCheckSeesConsoleErrors() async throws {
        let directory = try TestDirectories.make("status-console-control")
        let page = directory + "/broken.html"
        try "<html><body><p id=x>x</p><img src=\"missing.png\"><script>undefinedFunction()</script></body></html>"
            .write(toFile: page, atomically: true, encoding: .utf8)
        let rendering = try await StatusClients.render(
            "file://" + page, screenshot: directory + "/broken.png", profile: directory + "/chromium")
        #expect(rendering.console.contains { $0.contains("undefinedFunction") }, "\(rendering.console)")
    }

    @Test func operatorActionsNeedAnOperatorCertificateAndTakeEffect() async throws {
        let (federation, store, participants) = try await runningFederation("status-operator") { c in c.status.operatorTLS = true }
        defer { federation.stopAll() }
        try federation.runScript(TestEnvironment.certsScripts + "/issue-certificate.sh", [federation.pki, "operator", "oncall"])
        #expect(await waitUntil(120) { released(store) >= 1 })
        let url = try #require(federation.statusURL(log: "coordinator"))
        #expect(url.hasPrefix("https://127.0.0.1:"))
        let ca = federation.pki + "/ca/ca.crt"
        let asOperator = StatusClients.ClientTLS(
            certificate: federation.pki + "/operator-oncall/cert.pem", key: federation.pki + "/operator-oncall/key.pem",
            certificateAuthority: ca)
        let asParticipant = StatusClients.ClientTLS(
            certificate: federation.pki + "/participant-1/cert.pem", key: federation.pki + "/participant-1/key.pem",
            certificateAuthority: ca)
        let anonymous = StatusClients.ClientTLS(certificate: nil, key: nil, certificateAuthority: ca)

        // Refused without a certificate (the handshake fails) and with a participant's.
        let ban = url + "api/participants/3/ban?reason=maintenance"
        #expect(try await StatusClients.request(ban, method: "POST", tls: anonymous).status != 200)
        let wrongRole = try await StatusClients.request(ban, method: "POST", tls: asParticipant)
        #expect(wrongRole.status == 403 && wrongRole.body.contains("not an operator"), "\(wrongRole)")
        #expect(try store.bans().isEmpty, "nothing was banned by the refused requests")
        #expect(readLog(federation, "coordinator").contains("status request refused"))

        // With the operator's: reading works; a participant number that is not one is refused
        // with 400 and bans nobody; then the ban takes effect at once.
        let read = try await StatusClients.request(url + "api/status", tls: asOperator)
        #expect(read.status == 200, "\(read)")
        for id in ["abc", "0", "-3", "4294967299", "3x", "%33%00"] {
            let malformed = try await StatusClients.request(url + "api/participants/\(id)/ban", method: "POST", tls: asOperator)
            #expect(malformed.status == 400 && malformed.body.contains("positive integer"), "\(id): \(malformed)")
        }
        #expect(try store.bans().isEmpty, "nothing was banned by the malformed requests")
        let banned = try await StatusClients.request(ban, method: "POST", tls: asOperator)
        #expect(banned.status == 200, "\(banned)")
        #expect(try store.bans().map(\.participant) == [3] && store.bans().first?.by == "oncall")
        #expect(await waitUntil(30) { readLog(federation, "participant-3").contains("banned from this federation by operator oncall") })
        let log = readLog(federation, "coordinator")
        #expect(log.contains("operator banned a participant") && log.contains("operator=oncall"), "\(log.suffix(2000))")
        // Its reconnects are refused, and rounds go on without it.
        let before = released(store)
        #expect(
            await waitUntil(60) { ((try? store.rounds()) ?? []).contains { $0.id > before && $0.outcome == .released && $0.cohort == 2 } })

        // Pause: no round starts; resume: rounds go on.
        #expect(try await StatusClients.request(url + "api/scheduling/pause", method: "POST", tls: asOperator).status == 200)
        #expect(await waitUntil(60) { ((try? store.rounds()) ?? []).allSatisfy { $0.outcome != .running } })
        let paused = try store.rounds().count
        try await Task.sleep(for: .seconds(2))
        #expect(try store.rounds().count == paused, "no round started while paused")
        #expect(try await StatusClients.request(url + "api/scheduling/resume", method: "POST", tls: asOperator).status == 200)
        #expect(await waitUntil(60) { (try? store.rounds().count) ?? 0 > paused })

        // Disconnect is not a ban: the participant reconnects.
        let connections = readLog(federation, "coordinator").components(separatedBy: "participant connected").count
        let disconnect = try await StatusClients.request(url + "api/participants/1/disconnect", method: "POST", tls: asOperator)
        #expect(disconnect.status == 200 && disconnect.body.contains("\"effective\" : true"), "\(disconnect)")
        #expect(
            await waitUntil(30) { readLog(federation, "coordinator").components(separatedBy: "participant connected").count > connections })
        #expect(readLog(federation, "participant-1").contains("disconnected by operator oncall"))

        // Abort the live round: participant 1 stops answering, so the next round waits for it
        // (a 20 s stage deadline); the operator aborts it and nothing of it is released.
        #expect(try await StatusClients.request(url + "api/scheduling/pause", method: "POST", tls: asOperator).status == 200)
        #expect(await waitUntil(60) { ((try? store.rounds()) ?? []).allSatisfy { $0.outcome != .running } })
        kill(participants[0].processIdentifier, SIGSTOP)
        defer { kill(participants[0].processIdentifier, SIGCONT) }
        let beforeAbort = try store.rounds().map(\.id).max() ?? 0
        #expect(try await StatusClients.request(url + "api/scheduling/resume", method: "POST", tls: asOperator).status == 200)
        #expect(await waitUntil(30) { ((try? store.rounds()) ?? []).contains { $0.id > beforeAbort && $0.outcome == .running } })
        let abort = try await StatusClients.request(url + "api/rounds/live/abort", method: "POST", tls: asOperator)
        #expect(abort.status == 200 && abort.body.contains("\"effective\" : true"), "\(abort)")
        #expect(
            await waitUntil(10) {
                ((try? store.rounds()) ?? []).contains {
                    $0.id > beforeAbort && $0.outcome == .aborted && ($0.reason ?? "").contains("aborted by operator oncall")
                }
            }, "\(((try? store.rounds()) ?? []).suffix(3))")
        #expect(readLog(federation, "coordinator").contains("round aborted by an operator"))

        // A revoked operator certificate is refused at once, without a restart.
        try federation.runScript(
            TestEnvironment.certsScripts + "/revoke-certificate.sh", [federation.pki, federation.pki + "/operator-oncall/cert.pem"])
        let revoked = try await StatusClients.request(url + "api/scheduling/pause", method: "POST", tls: asOperator)
        #expect(revoked.status == 403 && revoked.body.contains("revoked"), "\(revoked)")
        #expect(readLog(federation, "coordinator").contains("revoked"))
    }

    /// Over plain HTTP (loopback, no operator TLS) the page and the API are readable but every
    /// action is refused.
    @Test func withoutOperatorTLSActionsAreRefused() async throws {
        let (federation, store, _) = try await runningFederation("status-plain")
        defer { federation.stopAll() }
        #expect(await waitUntil(120) { released(store) >= 1 })
        let url = try #require(federation.statusURL(log: "coordinator"))
        let reply = try await StatusClients.request(url + "api/participants/2/ban", method: "POST")
        #expect(reply.status == 403 && reply.body.contains("operatorTLS"), "\(reply)")
        #expect(try store.bans().isEmpty)
        #expect(try await StatusClients.request(url + "api/scheduling/pause", method: "POST").status == 403)
    }

    /// The text of the card `key` (`<div class="card" id="card-KEY"><b>VALUE</b>`).
    static func card(_ key: String, in dom: String) -> String? {
        guard let start = dom.range(of: "id=\"card-\(key)\"><b>") else { return nil }
        let rest = dom[start.upperBound...]
        guard let end = rest.range(of: "</b>") else { return nil }
        return String(rest[..<end.lowerBound])
    }

    /// Rows in the body of table `id`.
    static func rows(of id: String, in dom: String) -> Int {
        guard let start = dom.range(of: "<table id=\"\(id)\">") else { return -1 }
        let rest = dom[start.upperBound...]
        let table = rest[..<(rest.range(of: "</table>")?.lowerBound ?? rest.endIndex)]
        guard let body = table.range(of: "<tbody>") else { return -1 }
        return table[body.upperBound...].components(separatedBy: "<tr>").count - 1
            - (table.contains("none yet") ? 1 : 0)
    }

    /// The participant's `/api/status`, as a test reads it.
    struct ParticipantStatusView: Decodable {
        let participant: UInt32
        let connected: Bool
        let epsilonSpent: Double
    }
}

/// A Session whose first message is not valid protobuf ends with `invalid argument`, not OK, and
/// the coordinator logs it as a warning (it used to end the stream with status 0 at info level).
@Suite(.serialized) struct MalformedMessageTests {
    @Test func aMalformedMessageEndsTheStreamWithAnErrorStatus() async throws {
        let federation = try makeFederation("malformed-protobuf", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        _ = try federation.startCoordinator()
        #expect(await waitUntil(30) { readLog(federation, "coordinator").contains("listening") })
        // A gRPC frame (uncompressed, 3 bytes): field 1 as a length-delimited value whose length
        // varint never ends.
        let body = federation.options.directory + "/bad.bin"
        try Data([0x00, 0x00, 0x00, 0x00, 0x03, 0x0a, 0xff, 0xff]).write(to: URL(fileURLWithPath: body))
        let pki = federation.pki + "/participant-1"
        let reply = try await Subprocess.run(
            "/usr/bin/curl",
            [
                "-sS", "-v", "--http2", "--max-time", "15", "--cert", pki + "/cert.pem", "--key", pki + "/key.pem", "--cacert",
                pki + "/ca.crt", "-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary", "@" + body,
                "https://127.0.0.1:\(federation.port)/tally.v1.Federation/Session",
            ], timeout: .seconds(30))
        let status = reply.output.split(separator: "\n").first { $0.contains("grpc-status:") }
        #expect(status != nil && !(status!.hasSuffix(" 0") || status!.hasSuffix(" 0\r")), "\(reply.output.suffix(1500))")
        #expect(await waitUntil(10) { readLog(federation, "coordinator").contains("participant sent a malformed message") })
    }
}
