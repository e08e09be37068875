import Foundation
import TallyCore
import TallyModel
import TallyTestSupport
import Testing

@testable import TallyParticipant

/// The external-trainer contract (docs/trainer-contract.md) against tiny trainers in
/// Trainers/: one that keeps it and one per way of breaking it. Each breach must be a clear
/// `TallyError` naming the file, tensor or key; no process the trainer started may survive.
@Suite struct ExternalTrainerTests {
    static let trainers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Trainers"
    /// Weight [2, 3] and bias [2]: 8 parameters.
    static let spec = ModelSpec.logisticRegression(featureCount: 3, classCount: 2)
    static let global: [Float] = [1, 2, 3, 4, 5, 6, -1, -2]

    /// A trainer running `fake_trainer.py mode side`, with its scratch directory under `directory`.
    func trainer(_ command: [String], in directory: String, timeLimit: Double = 120, maxOutputBytes: Int = 1 << 20)
        -> ExternalTrainer
    {
        var settings = ParticipantConfiguration.ExternalTrainerSettings()
        settings.command = command
        settings.timeLimitSeconds = timeLimit
        settings.maxOutputBytes = maxOutputBytes
        var trainer = ExternalTrainer(settings: settings, spec: Self.spec, round: 42, scratch: directory)
        trainer.grace = .milliseconds(300)
        return trainer
    }

    func fake(_ mode: String, in directory: String, maxOutputBytes: Int = 1 << 20) -> ExternalTrainer {
        trainer(
            ["/usr/bin/python3", Self.trainers + "/fake_trainer.py", mode, directory + "/side.json"], in: directory,
            maxOutputBytes: maxOutputBytes)
    }

    /// The error a run throws, or nil if it succeeded.
    func failure(_ trainer: ExternalTrainer) async -> TallyError? {
        do {
            _ = try await trainer.run(global: Self.global, settings: TrainingSettings())
            return nil
        } catch let error as TallyError {
            return error
        } catch {
            Issue.record("expected a TallyError, got \(error)")
            return nil
        }
    }

    /// No job directory is left under `directory` once a run has ended.
    func jobDirectories(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("tally-trainer-") }
    }

    @Test func aTrainerThatKeepsTheContractGivesTrainedMinusGlobal() async throws {
        let directory = try TestDirectories.make("external-good")
        let report = try await fake("good", in: directory).run(global: Self.global, settings: TrainingSettings(batchSize: 5))
        #expect(report.update == [Float](repeating: 0.5, count: 8))
        #expect(report.examples == 7)
        #expect(report.metrics == ["loss": 0.25, "accuracy": 0.75])
        #expect(report.output.contains("fake trainer: progress line"))
        #expect(jobDirectories(in: directory).isEmpty)

        // What the trainer saw: the versioned job, in a private directory, its path in TALLY_JOB too.
        let side =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/side.json"))) as! [String: Any]
        let job = side["job"] as! [String: Any]
        #expect(side["directoryMode"] as? Int == 0o700)
        #expect(job["contract"] as? String == "tally-trainer/v1")
        #expect(job["round"] as? Int == 42)
        #expect((job["training"] as? [String: Any])?["batchSize"] as? Int == 5)
        let model = job["model"] as! [String: Any]
        let tensors = model["tensors"] as! [[String: Any]]
        #expect(tensors.map { $0["name"] as? String } == ["weight", "bias"])
        #expect(tensors.map { $0["shape"] as? [Int] } == [[2, 3], [2]])
        #expect((model["metadata"] as? [String: String])?["format"] == "tally-logistic-regression/v1")
        let output = job["output"] as! [String: String]
        #expect(output["model"]?.hasSuffix("/trained.safetensors") == true)
        #expect(output["result"]?.hasSuffix("/result.json") == true)
        #expect((side["environment"] as? String)?.hasSuffix("/job.json") == true)
    }

    /// Whether /usr/bin/python3 has numpy, which the Python helper needs (Debian python3-numpy,
    /// installed by .ci/install-deps); without it the helper's test is skipped with this reason.
    static let numpyAvailable: Bool = {
        guard BoundedFile.isRegularFile("/usr/bin/python3") else { return false }
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/usr/bin/python3"), strdup("-c"), strdup("import numpy"), nil]
        defer { for pointer in argv { free(pointer) } }
        guard posix_spawn(&pid, "/usr/bin/python3", nil, nil, argv, environ) == 0 else { return false }
        var status: Int32 = 0
        return waitpid(pid, &status, 0) == pid && status == 0
    }()

    @Test(.enabled(if: numpyAvailable, "needs /usr/bin/python3 with numpy (Debian python3-numpy)"))
    func thePythonHelperWritesWhatTheDaemonAccepts() async throws {
        let directory = try TestDirectories.make("external-helper")
        let helper = TestEnvironment.repositoryRoot + "/Participant/python"
        let script = Self.trainers + "/helper_trainer.py"
        let report = try await trainer(["/usr/bin/python3", script, helper, "good"], in: directory)
            .run(global: Self.global, settings: TrainingSettings())
        #expect(report.update == [Float](repeating: 0.25, count: 8))
        #expect(report.examples == 11 && report.metrics == ["loss": 0.5])

        // The helper refuses a NaN itself, naming the tensor; the daemon sees a failed run.
        let error = await failure(trainer(["/usr/bin/python3", script, helper, "nan"], in: directory))
        #expect(error?.code == .trainerFailed)
        #expect("\(error.map { "\($0)" } ?? "")".contains("the trained tensor 'bias' has values that are not finite"))
    }

    @Test(arguments: [
        ("wrong-shape", "tensor \"weight\" has shape [3, 2], expected [2, 3]"),
        ("missing-tensor", "tensor \"bias\" is missing"),
        ("extra-tensor", "unexpected tensor \"extra\""),
        ("nan", "tensor \"bias\" element 0 is nan, not finite"),
        ("no-result", "wrote no result.json"),
        ("result-not-json", "result.json"),
        ("result-unknown-key", "unknown key \"exampels\""),
        ("result-no-examples", "\"examples\" (the number of examples trained on) is missing"),
        ("result-wrong-contract", "\"contract\" must be \"tally-trainer/v1\", got \"tally-trainer/v0\""),
        ("result-nan-metric", "result.json"),
        ("result-text-metric", "metrics.loss"),
    ])
    func aBrokenOutputIsRefusedNamingWhatIsWrong(mode: String, expected: String) async throws {
        let directory = try TestDirectories.make("external-\(mode)")
        let error = await failure(fake(mode, in: directory))
        #expect(error?.code == .trainerOutputInvalid, "\(mode): \(error.map { "\($0)" } ?? "accepted")")
        #expect(error?.message.contains(expected) == true, "\(mode): \(error?.message ?? "accepted")")
        #expect(jobDirectories(in: directory).isEmpty)
    }

    @Test func aNonZeroExitIsAnErrorWithTheOutputInItsCauseOnly() async throws {
        let directory = try TestDirectories.make("external-exit")
        let error = try #require(await failure(fake("exit", in: directory)))
        #expect(error.code == .trainerFailed)
        #expect(error.message.contains("exited with status 3"))
        // The output reaches the daemon's log (the error's description) but not the message a
        // decline sends to the coordinator.
        #expect("\(error)".contains("something went wrong on line 42"))
        #expect(!error.message.contains("something went wrong"))
    }

    @Test func anOversizedModelIsRefusedBeforeItIsRead() async throws {
        let directory = try TestDirectories.make("external-oversized")
        let error = await failure(fake("oversized", in: directory, maxOutputBytes: 1_024))
        #expect(error?.code == .trainerOutputInvalid)
        #expect(
            error?.message.contains("larger than externalTrainer.maxOutputBytes = 1024") == true, "\(error.map { "\($0)" } ?? "accepted")")
    }

    @Test func aProgramThatCannotStartIsAnError() async throws {
        let directory = try TestDirectories.make("external-missing")
        let error = await failure(trainer([directory + "/no-such-trainer"], in: directory))
        #expect(error?.code == .trainerFailed)
        #expect(error?.message.contains("cannot start the external trainer") == true)
        #expect(jobDirectories(in: directory).isEmpty)
    }

    @Test func theTimeLimitStopsTheWholeProcessGroup() async throws {
        let directory = try TestDirectories.make("external-hang")
        let pids = directory + "/pids"
        let error = await failure(trainer(["/bin/sh", Self.trainers + "/hang.sh", pids], in: directory, timeLimit: 3))
        #expect(error?.code == .trainerFailed)
        #expect(error?.message.contains("did not finish within externalTrainer.timeLimitSeconds = 3.0") == true)
        #expect("\(error.map { "\($0)" } ?? "")".contains("hang: waiting forever"))
        for role in ["leader", "child", "grandchild"] {
            let pid = try #require(Self.pid(pids + "." + role), "hang.sh did not start its \(role) within the time limit")
            #expect(Self.isGone(pid), "the \(role) \(pid) survived the time limit")
        }
        #expect(jobDirectories(in: directory).isEmpty)
    }

    @Test func cancellationStopsTheWholeProcessGroup() async throws {
        let directory = try TestDirectories.make("external-cancel")
        let pids = directory + "/pids"
        let trainer = trainer(["/bin/sh", Self.trainers + "/hang.sh", pids], in: directory, timeLimit: 600)
        let run = Task { try await trainer.run(global: Self.global, settings: TrainingSettings()) }
        // Bounded: the script writes its grandchild's pid first thing.
        var polls = 0
        while Self.pid(pids + ".grandchild") == nil, polls < 1_200 {
            try await Task.sleep(for: .milliseconds(50))
            polls += 1
        }
        run.cancel()
        let outcome = await run.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        for role in ["leader", "child", "grandchild"] {
            let pid = try #require(Self.pid(pids + "." + role), "hang.sh never started its \(role)")
            #expect(Self.isGone(pid), "the \(role) \(pid) survived cancellation")
        }
        #expect(jobDirectories(in: directory).isEmpty)
    }

    static func pid(_ path: String) -> pid_t? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// No such process, or only its zombie: an orphan's exit status waits for PID 1, which in a
    /// container may never collect it, but it runs no code and holds no files.
    static func isGone(_ pid: pid_t) -> Bool {
        if kill(pid, 0) == -1, errno == ESRCH { return true }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return kill(pid, 0) == -1 }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}

/// The participant configuration's external-trainer keys: required with `trainer: "external"`,
/// refused without it, every value checked with an error naming its key.
@Suite struct ExternalTrainerConfigurationTests {
    func message(_ change: (inout ParticipantConfiguration.ExternalTrainerSettings) -> Void, trainer: String = "external") -> String? {
        var settings = ParticipantConfiguration.ExternalTrainerSettings()
        settings.command = ["/bin/sh", "-c", "true"]
        change(&settings)
        do { try settings.validate(trainer: trainer); return nil } catch { return error.message }
    }

    @Test func everyKeyIsChecked() {
        let cases: [(String, (inout ParticipantConfiguration.ExternalTrainerSettings) -> Void)] = [
            ("externalTrainer.command is empty", { $0.command = [] }),
            ("externalTrainer.command[1]", { $0.command = ["/bin/sh", ""] }),
            ("externalTrainer.command[0] \"/no/such/program\"", { $0.command = ["/no/such/program"] }),
            (
                "externalTrainer.command[0] \"no-such-program-tally\" is not an executable file found in PATH",
                {
                    $0.command = ["no-such-program-tally"]
                }
            ),
            ("externalTrainer.timeLimitSeconds", { $0.timeLimitSeconds = 0 }),
            ("externalTrainer.timeLimitSeconds", { $0.timeLimitSeconds = .infinity }),
            ("externalTrainer.maxOutputBytes", { $0.maxOutputBytes = 10 }),
            ("externalTrainer.workingDirectory", { $0.workingDirectory = "/no/such/directory" }),
        ]
        for (expected, change) in cases {
            let text = message(change)
            #expect(text?.contains(expected) == true, "\(expected): \(text ?? "accepted")")
        }
        #expect(message { _ in } == nil)
        #expect(message({ $0.command = ["sh"] }) == nil) // found in PATH
    }

    @Test func aCommandWithAnotherTrainerIsAMistake() {
        #expect(message({ _ in }, trainer: "logistic-regression")?.contains("set trainer to \"external\"") == true)
        #expect(message({ $0.command = [] }, trainer: "logistic-regression") == nil)
    }

    @Test func theConfigurationFileReadsTheKeysStrictly() throws {
        let directory = try TestDirectories.make("external-config")
        let path = directory + "/participant.json"
        try Data(
            """
            {"trainer": "external", "externalTrainer": {"command": ["/bin/sh", "train.sh"], "timeLimitSecond": 5}}
            """.utf8
        ).write(to: URL(fileURLWithPath: path))
        #expect(throws: TallyError.self) { try ParticipantConfiguration.load(path: path) }
        do { _ = try ParticipantConfiguration.load(path: path) } catch {
            #expect(error.message.contains("unknown key \"externalTrainer.timeLimitSecond\""), "\(error)")
        }
    }
}
