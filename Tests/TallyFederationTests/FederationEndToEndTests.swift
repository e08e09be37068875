import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyRound
import TallyTestSupport
import TallyWire
import Testing

/// Real processes, real mutual TLS on loopback, real Fashion-MNIST. Every process started is
/// stopped (the federation's deinit and explicit stops); every wait is bounded.
@Suite(.serialized) struct FederationEndToEndTests {
    @Test func fullRoundOverMutualTLSPublishesAVerifiedVersion() async throws {
        let federation = try makeFederation("full", participants: 3, rounds: 1)
        defer { federation.stopAll() }
        // Participants hold their masked inputs for the plan's delay, whatever their training time.
        var settings = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: federation.coordinatorConfig))) as? [String: Any])
        settings["maskedInputDelaySeconds"] = 3.0
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: federation.coordinatorConfig))
        let coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 120), "the coordinator should finish its one round")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")

        let store = try #require(openStore(federation))
        let rounds = try store.rounds()
        #expect(rounds.count == 1 && rounds[0].outcome == .released && rounds[0].contributors == 3)
        #expect((rounds[0].seconds ?? 0) >= 3, "the round cannot end before the masked inputs were released")
        let latest = try #require(try store.latestVersion())
        #expect(latest.version == 1)
        // The registry verifies: blob matches its hash, manifest signed by the coordinator.
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let blob = try registry.blob(hash: latest.modelHash)
        let trust = try FederationTrust(caFile: federation.pki + "/ca/ca.crt")
        let manifest = try await ModelManifest.verified(bytes: latest.manifest, signature: latest.signature, trust: trust)
        #expect(manifest.modelHash == latest.modelHash && manifest.contributors == 3)
        // Its lineage: the privacy unit, the ε the coordinator's ledger stood at, and the optimizer.
        let lineage = try #require(manifest.lineage)
        #expect(lineage.privacyUnit == "organization" && lineage.serverOptimizer.kind == .fedAvg && lineage.delta == 1e-5)
        let spent = try #require(lineage.epsilonSpent)
        #expect(spent > 0 && spent <= 10, "the federation's one round, calibrated for ε = 10 over all")
        let model = try LogisticRegression(safeTensors: SafeTensors(serialized: blob))
        #expect(model.parameters.contains { $0 != 0 }, "the released model must have moved from the all-zero start")
        // A tampered manifest byte breaks the signature.
        var tampered = latest.manifest
        tampered[tampered.count / 2] ^= 1
        await #expect(throws: TallyError.self) {
            _ = try await ModelManifest.verified(bytes: tampered, signature: latest.signature, trust: trust)
        }

        // Validations are remembered across rounds, but a revocation made later still refuses a
        // remembered certificate, and a remembered one is only ever returned for its own PEM.
        let certificatePath = TLSFiles(directory: federation.pki + "/participant-2").certificate
        let pem = try FederationTrust.readPEM(certificatePath, what: "test")
        let (identity, _) = try await trust.verify(pem: pem)
        #expect(identity == .participant(ParticipantID(2)))
        #expect(try await trust.verify(pem: pem).0 == identity, "a second check of the same certificate")
        // openssl prints the serial as the revocation list keeps it (BN_bn2hex).
        let serial = try TestEnvironment.openssl(["x509", "-in", certificatePath, "-noout", "-serial"])
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
        var revoking = trust
        revoking.revocations = RevocationList(revokedSerials: [serial])
        await #expect(throws: TallyError.self) { _ = try await revoking.verify(pem: pem) }
        #expect(try await trust.verify(pem: pem).0 == identity, "the unrevoked trust still admits it")
        var foreign = pem
        foreign.replaceSubrange(
            foreign.index(foreign.startIndex, offsetBy: 100)...foreign.index(foreign.startIndex, offsetBy: 103), with: "AAAA")
        await #expect(throws: TallyError.self) { _ = try await trust.verify(pem: foreign) }
    }

    @Test func badCertificatesAreRefusedWithAClearError() async throws {
        let federation = try makeFederation("certs", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        let coordinator = try federation.startCoordinator()
        #expect(await waitUntil(30) { readLog(federation, "coordinator").contains("listening") })
        let port = federation.port

        // Positive control: a good participant certificate is admitted. Up to 30 s: on a loaded
        // machine (the whole suite in parallel on 2 cores) the first handshake alone has taken 4 s.
        let admitted = await attemptSession(port: port, tls: TLSFiles(directory: federation.pki + "/participant-1"), seconds: 30)
        #expect(admitted == "welcome", "a good certificate: \(admitted)")

        // A certificate from another CA.
        let other = federation.options.directory + "/other-ca"
        try federation.runScript(federation.options.certsScripts + "/create-federation-ca.sh", [other])
        try federation.runScript(federation.options.certsScripts + "/issue-certificate.sh", [other, "participant", "1"])
        var foreign = TLSFiles(directory: other + "/participant-1")
        foreign.certificateAuthority = federation.pki + "/ca/ca.crt"
        // Refusals are bounded by 30 s too (a loaded machine): "timeout" means no answer at all.
        let foreignResult = await attemptSession(port: port, tls: foreign, seconds: 30)
        #expect(foreignResult.hasPrefix("error"), "foreign CA: \(foreignResult)")

        // An expired certificate from the right CA.
        let expired = try issueExpiredParticipant(federation, id: 2)
        let expiredResult = await attemptSession(port: port, tls: expired, seconds: 30)
        #expect(expiredResult.hasPrefix("error"), "expired: \(expiredResult)")

        // A revoked one: TLS succeeds, the coordinator refuses by the CRL.
        try federation.runScript(
            federation.options.certsScripts + "/revoke-certificate.sh", [federation.pki, federation.pki + "/participant-2/cert.pem"])
        let revokedResult = await attemptSession(port: port, tls: TLSFiles(directory: federation.pki + "/participant-2"))
        #expect(revokedResult.contains("permissionDenied") || revokedResult.contains("permission"), "revoked: \(revokedResult)")
        #expect(revokedResult.contains("revoked"), "the refusal should say why: \(revokedResult)")

        // A coordinator certificate cannot join as a participant.
        let asParticipant = await attemptSession(port: port, tls: TLSFiles(directory: federation.pki + "/coordinator"))
        #expect(asParticipant.contains("cannot join as a participant"), "coordinator cert as participant: \(asParticipant)")
        federation.stop(coordinator)

        // A participant certificate presented as the coordinator: the coordinator refuses to
        // start with it, and a participant would refuse it anyway (no coordinator name in it).
        var config = try CoordinatorConfiguration.load(path: federation.coordinatorConfig)
        config.tls = TLSFiles(directory: federation.pki + "/participant-1")
        config.dataDirectory = federation.options.directory + "/impostor"
        let impostorConfig = federation.options.directory + "/impostor.json"
        try Data(StrictJSON.encode(config)).write(to: URL(fileURLWithPath: impostorConfig))
        let impostor = try await Subprocess.run(
            TestEnvironment.executables + "/tally-coordinator", ["serve", "--config", impostorConfig],
            timeout: .seconds(60))
        #expect(impostor.status != 0)
        #expect(impostor.output.contains("not a coordinator certificate"), "impostor output: \(impostor.output)")
    }

    @Test func participantKilledBeforeMaskingLeavesTheSurvivorsSum() async throws {
        let federation = try makeFederation("dropout", participants: 4, rounds: 1)
        defer { federation.stopAll() }
        let coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        try federation.startParticipant(4, environment: ["TALLY_FAULT_INJECTION": "exit-before-masked-input"])
        try #require(await waitForExit(coordinator, seconds: 120))
        let store = try #require(openStore(federation))
        let round = try #require(try store.rounds().first)
        #expect(round.outcome == .released, "coordinator log:\n\(readLog(federation, "coordinator"))")
        #expect(round.contributors == 3 && round.dropped == 1)
        #expect(federation.participants[4]?.isRunning == false)
    }

    /// A participant reaches the coordinator by DNS name as well as by address (a name used to
    /// trap in the transport's IPv4 resolver); the name is also what TLS checks the certificate for.
    @Test func participantsReachTheCoordinatorByName() async throws {
        try await Self.roundWithHosts("by-name", coordinator: nil, participants: [1: "localhost", 2: "localhost"])
    }

    /// A coordinator listening on IPv6 loopback, reached by `::1` and by `[::1]` (TLS checks the
    /// certificate's IP address `::1`).
    @Test func participantsReachTheCoordinatorOverIPv6() async throws {
        try await Self.roundWithHosts("ipv6", coordinator: "::1", participants: [1: "::1", 2: "[::1]", 3: "::1"])
    }

    /// One round of a 3-participant federation with `host` in the coordinator's configuration and
    /// `coordinatorHost` in the named participants' rewritten; every participant contributes.
    static func roundWithHosts(_ name: String, coordinator host: String?, participants hosts: [Int: String]) async throws {
        let federation = try makeFederation(name, participants: 3, rounds: 1)
        defer { federation.stopAll() }
        func rewrite(_ path: String, _ key: String, _ value: String) throws {
            var settings = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            settings[key] = value
            try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: path))
        }
        if let host { try rewrite(federation.coordinatorConfig, "host", host) }
        for (i, host) in hosts { try rewrite(federation.participantConfig(i), "coordinatorHost", host) }
        let coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 120), "coordinator log:\n\(readLog(federation, "coordinator"))")
        let rounds = try #require(openStore(federation)).rounds()
        #expect(
            rounds.first?.outcome == .released && rounds.first?.contributors == 3,
            "participant 1 log:\n\(readLog(federation, "participant-1"))")
        // Connected to the end: it got the farewell and stopped cleanly.
        let status = await federation.participants[1]?.exited(within: .seconds(30))
        #expect(status == 0 && readLog(federation, "participant-1").contains("the federation has finished"))
    }

    @Test func coordinatorKilledMidRoundRestartsConsistently() async throws {
        let federation = try makeFederation("sigkill", participants: 3, rounds: 2, stageTimeout: 20)
        defer { federation.stopAll() }
        var coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        // Kill it with SIGKILL while round 1 is past key advertisement.
        let midRound = await waitUntil(90) {
            guard let store = openStore(federation), let rounds = try? store.rounds(), let first = rounds.first else { return false }
            return first.outcome == .running && first.stage > .keys
        }
        #expect(midRound, "round 1 should reach the middle of the protocol")
        coordinator.stop(signal: SIGKILL)
        let before = try #require(openStore(federation))
        #expect(try before.rounds().first?.outcome == .running, "the killed round is left running on disk")
        #expect(try before.latestVersion()?.version == 0, "nothing of the killed round was published")

        // Restart on the same data directory: the round is aborted, and the next completes.
        coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 150), "the restarted coordinator should release its rounds")
        #expect(coordinator.exitStatus == 0)
        let store = try #require(openStore(federation))
        let rounds = try store.rounds()
        #expect(rounds.first?.outcome == .aborted && rounds.first?.reason?.contains("restarted") == true)
        #expect(rounds.filter { $0.outcome == .released }.count == 2)
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let trust = try FederationTrust(caFile: federation.pki + "/ca/ca.crt")
        for version in try store.versions() {
            _ = try registry.blob(hash: version.modelHash)
            _ = try await ModelManifest.verified(bytes: version.manifest, signature: version.signature, trust: trust)
        }
    }

    /// A participant certificate from the federation CA whose validity ended in 2020.
    private func issueExpiredParticipant(_ federation: LocalFederation, id: Int) throws -> TLSFiles {
        let dir = federation.options.directory + "/expired"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try TestEnvironment.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir + "/key.sec1"], in: federation.pki)
        try TestEnvironment.openssl(
            ["pkcs8", "-topk8", "-nocrypt", "-in", dir + "/key.sec1", "-out", dir + "/key.pem"], in: federation.pki)
        try TestEnvironment.openssl(
            ["req", "-new", "-key", dir + "/key.pem", "-subj", "/O=Tally/CN=expired", "-out", dir + "/req.csr"], in: federation.pki)
        try TestEnvironment.openssl(
            [
                "ca", "-batch", "-notext", "-config", "ca/openssl.cnf", "-extensions", "participant_ext",
                "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-in", dir + "/req.csr", "-out", dir + "/cert.pem",
            ],
            in: federation.pki, environment: ["TALLY_SAN": "URI:" + PeerRole.participant(ParticipantID(UInt32(id))).uri])
        try FileManager.default.copyItem(atPath: federation.pki + "/ca/ca.crt", toPath: dir + "/ca.crt")
        return TLSFiles(directory: dir)
    }
}

/// The server optimizer's moments are committed with each version and picked up by a restarted
/// coordinator, so a FedAdam run is one run across restarts.
@Suite(.serialized) struct ServerOptimizerEndToEndTests {
    func setOptimizer(_ federation: LocalFederation, _ optimizer: [String: Any], rounds: Int) throws {
        let url = URL(fileURLWithPath: federation.coordinatorConfig)
        var settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        settings["serverOptimizer"] = optimizer
        // `rounds` counts the federation's released rounds across restarts.
        settings["rounds"] = rounds
        // Three rounds within the participants' default budget.
        settings["privacy"] = ["noiseMultiplier": 3.0, "delta": 1e-5]
        try JSONSerialization.data(withJSONObject: settings).write(to: url)
    }

    @Test func fedAdamMomentsSurviveARestart() async throws {
        let federation = try makeFederation("fedadam", participants: 3, rounds: 1)
        defer { federation.stopAll() }
        try setOptimizer(federation, ["kind": "fedadam", "learningRate": 0.01], rounds: 1)
        var participants = try (1...3).map { try federation.startParticipant($0) }
        var coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 120), "round 1 should be released")
        // The federation is finished: every participant was told so and stopped cleanly.
        for (i, participant) in participants.enumerated() {
            #expect(await participant.exited(within: .seconds(30)) == 0, "participant \(i + 1) should exit 0 after the farewell")
            #expect(readLog(federation, "participant-\(i + 1)").contains("the federation has finished"))
        }
        let first = try #require(try openStore(federation)?.optimizerState(version: 1), "FedAdam's moments are saved with version 1")
        let tensors = try SafeTensors(serialized: first.state)
        let parameterCount = try ModelSpec.fashionMNISTLogisticRegression.layout.parameterCount
        #expect(try tensors["m"]?.floatValues().count == parameterCount && tensors["v"]?.floatValues().count == parameterCount)
        #expect(try tensors["m"]?.floatValues().contains { $0 != 0 } == true, "one step moves the first moment")

        // Restart on the same data: the moments are resumed, and saved again with version 2.
        try setOptimizer(federation, ["kind": "fedadam", "learningRate": 0.01], rounds: 2)
        participants = try (1...3).map { try federation.startParticipant($0) }
        coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 120), "round 2 should be released")
        let log = readLog(federation, "coordinator")
        #expect(log.contains("server optimizer resumed"), "coordinator log:\n\(log)")
        #expect(try openStore(federation)?.optimizerState(version: 2) != nil)

        // Other settings: the saved moments do not apply, and the log says so.
        try setOptimizer(federation, ["kind": "fedyogi", "learningRate": 0.01], rounds: 3)
        for participant in participants { _ = await participant.exited(within: .seconds(30)) }
        participants = try (1...3).map { try federation.startParticipant($0) }
        coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 120), "round 3 should be released")
        #expect(readLog(federation, "coordinator").contains("moments start afresh"))
    }
}
