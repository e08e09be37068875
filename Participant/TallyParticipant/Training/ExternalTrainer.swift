import Foundation
import TallyCore
import TallyModel

/// Training by the organization's own program (PyTorch, numpy, anything), one run per round,
/// under the versioned file contract of docs/trainer-contract.md.
///
/// The program only ever sees the global model and the training settings, and only returns a
/// trained model: clipping, noise and masking stay with the daemon, whatever the program does.
/// Everything it returns is checked before use (tensor names, shapes, F32, finite values, the
/// result file, the exit status); any failure is a `TallyError` and nothing half-read is used.
public struct ExternalTrainer: Trainer {
    /// The contract version written into every job and required in every result.
    public static let contract = "tally-trainer/v1"
    /// The file names in the job directory.
    public static let modelFile = "model.safetensors"
    public static let jobFile = "job.json"
    public static let trainedFile = "trained.safetensors"
    public static let resultFile = "result.json"
    /// The environment variable that also carries the job file's path.
    public static let jobVariable = "TALLY_JOB"
    /// Largest result.json read.
    static let maxResultBytes = 1 << 20
    /// How many metrics a result may carry, and how long their names may be.
    static let maxMetrics = 64
    static let maxMetricName = 64

    public let settings: ParticipantConfiguration.ExternalTrainerSettings
    /// The global model's spec: its layout is what the program must return.
    public let spec: ModelSpec
    public let round: UInt64
    /// Where each round's private job directory is made; the system's temporary directory by default.
    public let scratch: String
    /// Between SIGTERM and SIGKILL at the time limit or on cancellation.
    var grace: Duration = .seconds(2)

    /// What a run gave, beyond the update: for the daemon's log.
    public struct Report: Sendable {
        /// Δ = trained − global.
        public var update: [Float]
        public var examples: Int
        public var metrics: [String: Double]
        /// The last lines the program wrote (standard output and error together).
        public var output: String
        public var seconds: Double
    }

    public init(
        settings: ParticipantConfiguration.ExternalTrainerSettings, spec: ModelSpec, round: UInt64,
        scratch: String = NSTemporaryDirectory()
    ) {
        self.settings = settings
        self.spec = spec
        self.round = round
        self.scratch = scratch
    }

    public func update(global: [Float], settings training: TrainingSettings) async throws -> [Float] {
        try await run(global: global, settings: training).update
    }

    /// One run: job directory, program, checks. Throws `CancellationError` once cancelled (the
    /// program's whole process group is stopped first).
    public func run(global: [Float], settings training: TrainingSettings) async throws -> Report {
        try Task.checkCancellation()
        let layout = try spec.layout
        guard global.count == layout.parameterCount else {
            throw TallyError(.sizeMismatch, "the global model has \(global.count) parameters, its layout \(layout.parameterCount)")
        }
        let directory = try JobDirectory(under: scratch)
        defer { directory.remove() }

        let job = Job(
            contract: Self.contract, round: round, seed: Self.seed(training.seed, round: round),
            model: .init(
                path: directory.path(Self.modelFile), metadata: spec.metadata,
                tensors: layout.entries.map { .init(name: $0.name, shape: $0.shape, dtype: "F32") },
                parameterCount: layout.parameterCount),
            training: training,
            output: .init(model: directory.path(Self.trainedFile), result: directory.path(Self.resultFile)),
            limits: .init(timeLimitSeconds: settings.timeLimitSeconds, maxOutputBytes: settings.maxOutputBytes),
            directory: directory.path)
        try directory.create(Self.modelFile, try layout.safeTensors(global, metadata: spec.metadata).serialized())
        try directory.create(Self.jobFile, try job.encoded())

        let program = settings.command.first ?? ""
        let process = TrainerProcess(
            command: settings.command + [directory.path(Self.jobFile)],
            environment: [Self.jobVariable: directory.path(Self.jobFile)],
            workingDirectory: settings.workingDirectory, timeLimit: .seconds(settings.timeLimitSeconds), grace: grace)
        let outcome = try await process.run()
        let output = TrainerOutput(tail: outcome.outputTail)
        switch outcome.ending {
        case .cancelled:
            throw CancellationError()
        case .timedOut:
            throw TallyError(
                .trainerFailed,
                "the external trainer \(program) did not finish within externalTrainer.timeLimitSeconds = \(settings.timeLimitSeconds); its process group was stopped",
                cause: output)
        case .signaled(let signal):
            throw TallyError(.trainerFailed, "the external trainer \(program) was killed by signal \(signal)", cause: output)
        case .lost:
            throw TallyError(
                .trainerFailed, "the external trainer \(program) ended but its exit status was lost (does this process ignore SIGCHLD?)",
                cause: output)
        case .exited(let status) where status != 0:
            throw TallyError(.trainerFailed, "the external trainer \(program) exited with status \(status)", cause: output)
        case .exited:
            break
        }

        let result = try readResult(directory.path(Self.resultFile))
        let trained = try readTrained(directory.path(Self.trainedFile), layout: layout)
        var update = trained
        for i in update.indices { update[i] -= global[i] }
        if let bad = update.firstIndex(where: { !$0.isFinite }) {
            let entry = layout.entry(containing: bad)
            throw TallyError(
                .trainerOutputInvalid,
                "\(Self.trainedFile): tensor \"\(entry.name)\" element \(entry.offset) moved from \(global[bad]) to \(trained[bad]), a difference too large for F32"
            )
        }
        return Report(
            update: update, examples: result.examples ?? 0, metrics: result.metrics ?? [:], output: outcome.outputTail,
            seconds: outcome.seconds)
    }

    // MARK: Reading back

    private func readResult(_ path: String) throws(TallyError) -> Result {
        guard BoundedFile.isRegularFile(path) else {
            throw TallyError(
                .trainerOutputInvalid,
                "the external trainer exited with status 0 but wrote no \(Self.resultFile) (a regular file at job.output.result)")
        }
        let result: Result
        do {
            result = try StrictJSON.load(Result.self, path: path, defaults: Result(), maxBytes: Self.maxResultBytes, what: "trainer result")
        } catch {
            throw TallyError(.trainerOutputInvalid, "\(Self.resultFile): \(error.message)", cause: error.cause)
        }
        func fail(_ message: String) -> TallyError { TallyError(.trainerOutputInvalid, "\(Self.resultFile): \(message)") }
        guard result.contract == Self.contract else {
            throw fail("\"contract\" must be \"\(Self.contract)\", got \(result.contract.map { "\"\($0)\"" } ?? "nothing")")
        }
        guard let examples = result.examples else { throw fail("\"examples\" (the number of examples trained on) is missing") }
        guard examples >= 0 else { throw fail("\"examples\" must be ≥ 0, got \(examples)") }
        let metrics = result.metrics ?? [:]
        guard metrics.count <= Self.maxMetrics else { throw fail("\"metrics\" has \(metrics.count) entries, more than \(Self.maxMetrics)") }
        for (name, value) in metrics.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.count <= Self.maxMetricName,
                name.unicodeScalars.allSatisfy({
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0))
                })
            else {
                throw fail(
                    "metric name \"\(name.prefix(Self.maxMetricName))\" must be 1 to \(Self.maxMetricName) characters of A-Z a-z 0-9 _ . -")
            }
            guard value.isFinite else { throw fail("metric \"\(name)\" is \(value), not a finite number") }
        }
        return result
    }

    private func readTrained(_ path: String, layout: TensorLayout) throws(TallyError) -> [Float] {
        guard BoundedFile.isRegularFile(path) else {
            throw TallyError(
                .trainerOutputInvalid,
                "the external trainer exited with status 0 but wrote no \(Self.trainedFile) (a regular file at job.output.model)")
        }
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, maxBytes: settings.maxOutputBytes, what: "trained model") } catch {
            guard error.code == .sizeLimitExceeded else { throw TallyError(.trainerOutputInvalid, error.message, cause: error.cause) }
            throw TallyError(
                .trainerOutputInvalid, "\(Self.trainedFile) is larger than externalTrainer.maxOutputBytes = \(settings.maxOutputBytes)",
                cause: error)
        }
        do {
            return try layout.parameters(of: try SafeTensors(serialized: bytes), source: Self.trainedFile)
        } catch {
            let message = error.message.hasPrefix(Self.trainedFile) ? error.message : "\(Self.trainedFile): \(error.message)"
            throw TallyError(.trainerOutputInvalid, message, cause: error.cause)
        }
    }

    /// The job's seed: the round's training seed mixed with the round id (SplitMix64), so every
    /// round differs and a rerun of a round is reproducible; 53 bits, exact in any JSON reader.
    static func seed(_ seed: UInt64, round: UInt64) -> UInt64 {
        var z = seed &+ round &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (z ^ (z >> 31)) & ((1 << 53) - 1)
    }

    // MARK: Files

    /// job.json (docs/trainer-contract.md).
    struct Job: Codable {
        struct Tensor: Codable {
            var name: String
            var shape: [Int]
            var dtype: String
        }
        struct Model: Codable {
            var path: String
            var metadata: [String: String]
            var tensors: [Tensor]
            var parameterCount: Int
        }
        struct Output: Codable {
            var model: String
            var result: String
        }
        struct Limits: Codable {
            var timeLimitSeconds: Double
            var maxOutputBytes: Int
        }
        var contract: String
        var round: UInt64
        var seed: UInt64
        var model: Model
        var training: TrainingSettings
        var output: Output
        var limits: Limits
        /// The private directory the job lives in; the program may use it for scratch files.
        var directory: String

        func encoded() throws(TallyError) -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do { return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")] } catch {
                throw TallyError(.invalidArgument, "cannot encode the trainer job", cause: error)
            }
        }
    }

    /// result.json: every key optional for ``StrictJSON`` (which then refuses unknown ones);
    /// the required ones are checked after decoding.
    struct Result: Codable {
        var contract: String? = nil
        var examples: Int? = nil
        var metrics: [String: Double]? = nil
    }
}

/// The trainer's last output lines, carried as an error's cause: they reach this daemon's log
/// but not the message a decline sends to the coordinator (a traceback may quote local data).
public struct TrainerOutput: Error, Sendable, CustomStringConvertible {
    public let tail: String
    public var description: String { tail.isEmpty ? "(the trainer wrote nothing)" : "the trainer's last output:\n\(tail)" }
}

/// One round's private directory (mode 0700), removed with everything in it afterwards.
private struct JobDirectory {
    let path: String

    init(under parent: String) throws(TallyError) {
        var template = Array(((parent.hasSuffix("/") ? parent : parent + "/") + "tally-trainer-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) != nil }) else {
            throw TallyError(.storageFailure, "cannot create a private job directory in \(parent): \(TrainerProcess.describe(errno))")
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func path(_ name: String) -> String { path + "/" + name }

    /// A new file (mode 0600) with `bytes`; it must not exist yet.
    func create(_ name: String, _ bytes: [UInt8]) throws(TallyError) {
        let target = path(name)
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TallyError(.storageFailure, "cannot create \(target): \(TrainerProcess.describe(errno))") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw TallyError(.storageFailure, "writing \(target) failed: \(TrainerProcess.describe(errno)) (disk full?)")
            }
            offset += n
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

extension TensorLayout {
    /// The tensor holding flat index `index`, and the index within it.
    fileprivate func entry(containing index: Int) -> (name: String, offset: Int) {
        var start = 0
        for entry in entries {
            if index < start + entry.elementCount { return (entry.name, index - start) }
            start += entry.elementCount
        }
        return ("?", index)
    }
}
