import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyParticipant
import TallyTestSupport
import TallyWire
import Testing

/// Whether Debian's PyTorch imports from /usr/bin/python3 (the `python3` on PATH may be another
/// interpreter without it). CI installs `python3-torch python3-numpy` (.ci/run, .ci/install-deps);
/// where they are missing the test below is skipped with this reason instead of failing obscurely.
let pyTorchAvailable: Bool = {
    guard BoundedFile.isRegularFile("/usr/bin/python3") else { return false }
    return (try? Subprocess.run("/usr/bin/python3", ["-c", "import torch, numpy"], timeout: .seconds(300)).status) == 0
}()

/// Real processes: federations where some organizations train with the built-in trainer and
/// others with their own program through the external trainer contract (the PyTorch example,
/// Participant/examples/pytorch/train.py, or one that fails); the daemon alone clips, noises and
/// masks either way.
@Suite(.serialized) struct ExternalTrainerEndToEndTests {
    @Test(.enabled(if: pyTorchAvailable, "needs /usr/bin/python3 with torch and numpy (Debian: python3-torch python3-numpy)"))
    func aFederationMixingBuiltInAndPyTorchTrainersReleasesModels() async throws {
        let participants = 3, rounds = 2
        var options = LocalFederation.Options(
            directory: try TestDirectories.make("external-e2e"), executables: TestEnvironment.executables)
        options.participants = participants
        options.rounds = rounds
        options.certsScripts = TestEnvironment.certsScripts
        // Python and torch start in seconds on an idle machine, far slower on a loaded one.
        options.stageTimeoutSeconds = 300
        options.training = TrainingSettings(localEpochs: 1, batchSize: 64, learningRate: 0.05, seed: 1)
        // The daemons still clip and noise every update; the noise is kept small (a loose ε) so
        // that the accuracy below says something about the trainers, not about three sites' noise.
        options.privacy = PrivacySettings(targetEpsilon: 1_000)
        options.participantBudgetEpsilon = 1_000_000
        let example = TestEnvironment.repositoryRoot + "/Participant/examples/pytorch/train.py"
        for i in 2...participants {
            var external = ParticipantConfiguration.ExternalTrainerSettings()
            external.command = ["/usr/bin/python3", example, "--parts", "\(participants)", "--part", "\(i - 1)"]
            external.timeLimitSeconds = 600
            options.externalTrainers[i] = external
        }
        let federation = try LocalFederation(options: options)
        defer { federation.stopAll() }
        try federation.makePKI()
        try federation.writeConfigurations()
        #expect(federation.participantConfiguration(1).trainer == ParticipantConfiguration.builtInTrainerName)
        #expect(federation.participantConfiguration(2).trainer == "external")
        try ParticipantConfiguration.load(path: federation.participantConfig(2)).validate()

        let coordinator = try federation.startCoordinator()
        for i in 1...participants { try federation.startParticipant(i) }
        try #require(
            await waitForExit(coordinator, seconds: 1_200),
            "the coordinator should finish its rounds; participant 2's log:\n\(readLog(federation, "participant-2"))")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")

        let store = try #require(openStore(federation))
        let records = try store.rounds()
        #expect(records.count == rounds, "coordinator log:\n\(readLog(federation, "coordinator"))")
        for record in records {
            #expect(record.outcome == .released && record.contributors == participants, "\(record)")
        }
        // The released model: signed manifest, all three contributors, and it classifies.
        let latest = try #require(try store.latestVersion())
        let trust = try FederationTrust(caFile: federation.pki + "/ca/ca.crt")
        let manifest = try await ModelManifest.verified(bytes: latest.manifest, signature: latest.signature, trust: trust)
        #expect(manifest.modelHash == latest.modelHash && manifest.contributors == participants)
        let accuracy = try #require(latest.accuracy, "the coordinator evaluates every released version")
        #expect(accuracy > 0.5, "test accuracy \(accuracy) after \(rounds) rounds")

        // Each kind of site trained its own way and logged it; no site logged a model.
        let builtIn = readLog(federation, "participant-1"), pyTorch = readLog(federation, "participant-2")
        #expect(builtIn.contains("trained locally") && !builtIn.contains("external trainer"))
        #expect(pyTorch.contains("trained locally with the external trainer"), "participant 2's log:\n\(pyTorch)")
        #expect(pyTorch.contains("metric_loss") && pyTorch.contains("examples=20000"))
        #expect(pyTorch.contains("external trainer output"))
        print(
            "external trainer e2e: round seconds \(records.map { String(format: "%.2f", $0.seconds ?? -1) }), accuracy \(accuracy)\n"
                + "built-in: \(Self.trainingSeconds(builtIn))\nPyTorch: \(Self.trainingSeconds(pyTorch))")
    }

    /// A site whose program fails declines the round with a clear error; the others' round is
    /// released without it. The program's output stays in the site's own log: the coordinator
    /// learns the error, not what the program printed (a traceback may quote local data).
    @Test func aFailingExternalTrainerDeclinesAndTheOthersRoundIsReleased() async throws {
        var options = LocalFederation.Options(
            directory: try TestDirectories.make("external-failing"), executables: TestEnvironment.executables)
        options.participants = 4
        options.rounds = 1
        options.certsScripts = TestEnvironment.certsScripts
        options.stageTimeoutSeconds = 120
        // All four in the cohort (the default minimum): with t = 3, the round survives one decline.
        // A smaller minimum lets a round start before the slower sites connect, and then fail.
        options.evaluation = false
        var broken = ParticipantConfiguration.ExternalTrainerSettings()
        broken.command = ["/bin/sh", "-c", "echo 'traceback: row 17 = confidential' >&2; exit 3", "sh"]
        options.externalTrainers[4] = broken
        let federation = try LocalFederation(options: options)
        defer { federation.stopAll() }
        try federation.makePKI()
        try federation.writeConfigurations()

        let coordinator = try federation.startCoordinator()
        for i in 1...4 { try federation.startParticipant(i) }
        try #require(
            await waitForExit(coordinator, seconds: 600),
            "the coordinator should finish its round; coordinator log:\n\(readLog(federation, "coordinator"))")
        let coordinatorLog = readLog(federation, "coordinator"), siteLog = readLog(federation, "participant-4")

        let records = try #require(openStore(federation)).rounds()
        #expect(records.count == 1 && records.first?.outcome == .released && records.first?.contributors == 3, "\(records)")
        #expect(coordinatorLog.contains("participant declined the round") && coordinatorLog.contains("code=trainer-failed"))
        #expect(coordinatorLog.contains("exited with status 3"))
        #expect(!coordinatorLog.contains("confidential"), "the program's output reached the coordinator")
        #expect(siteLog.contains("declining round") && siteLog.contains("traceback: row 17 = confidential"), "\(siteLog)")
    }

    /// The `seconds` of each "trained locally" line of a participant's log.
    static func trainingSeconds(_ log: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains("trained locally") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("seconds=") }.map(String.init)
        }
    }
}
