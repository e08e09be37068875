import Foundation
import Synchronization
import TallyCoordinator
import TallyCore
import TallyModel
import TallyParticipant
import TallyRound
import TallyWire

/// A whole federation on this machine, as separate processes on loopback: a throwaway CA and
/// certificates made with the `certs/` scripts, one coordinator and N participant daemons, each
/// with its own configuration, data directory and log file. Used by `tally-coordinator demo`
/// and by the multi-process tests.
public final class LocalFederation: Sendable {
    public struct Options: Sendable {
        public var participants = 5
        public var rounds = 20
        public var directory: String
        /// Folder holding the `tally-coordinator` and `tally-participant` executables.
        public var executables: String
        /// Folder holding the `certs/` scripts.
        public var certsScripts = "certs"
        public var port = 0
        public var alpha = 1.0
        public var stageTimeoutSeconds = 30.0
        public var training = TrainingSettings(localEpochs: 1, batchSize: 32, learningRate: 0.05, seed: 1)
        /// What the federation trains (logistic regression on Fashion-MNIST by default).
        public var model = ModelSettings()
        public var minParticipants: Int?
        public var evaluation = true
        /// Round benchmark: a flat model of this size and no-op trainers.
        public var syntheticDimension: Int?
        /// Participants (by number, 1...N) that train with their own program instead of the
        /// built-in trainer: a mixed federation, e.g. some sites on PyTorch.
        public var externalTrainers: [Int: ParticipantConfiguration.ExternalTrainerSettings] = [:]
        /// Round benchmark: the same round without secure aggregation.
        public var insecureDisableMasking = false
        /// The coordinator's noise: a target (ε, δ) over `rounds`, or an explicit multiplier.
        public var privacy = PrivacySettings()
        public var clipNorm = 0.5
        /// b (record-level federations need more than the default: see ``CoordinatorConfiguration/minimumRecordValueBits``).
        public var valueBits = CoordinatorConfiguration().valueBits
        /// The coordinator's server step.
        public var serverOptimizer = ServerOptimizer.Settings()
        /// c, and how long participants hold their masked input (see ``CoordinatorConfiguration``).
        public var collusionMargin = CoordinatorConfiguration().collusionMargin
        public var maskedInputDelaySeconds = CoordinatorConfiguration().maskedInputDelaySeconds
        /// Every organization's own budget (ε, δ); a round that would exceed it is declined.
        public var participantBudgetEpsilon = 15.0
        public var participantBudgetDelta = 1e-5
        /// What the organizations' budgets protect (record-level federations need `.record`).
        public var participantBudgetUnit = PrivacyUnit.organization
        /// The fraction of each organization's examples held out from training: what it scores
        /// every version on, locally and (with federated evaluation) for the publish gate.
        public var heldOutFraction = 0.0
        /// Federated evaluation and the publish gate (``ValidationSettings``).
        public var validation = ValidationSettings()

        public init(directory: String, executables: String) {
            self.directory = directory
            self.executables = executables
        }
    }

    public let options: Options
    public let port: Int
    private let processes = Mutex(Processes())

    private struct Processes {
        var coordinator: Subprocess?
        var participants: [Int: Subprocess] = [:]
    }

    public init(options: Options) throws {
        self.options = options
        self.port = options.port == 0 ? try Self.freePort() : options.port
        try FileManager.default.createDirectory(atPath: options.directory + "/logs", withIntermediateDirectories: true)
    }

    /// The coordinator last started, and each participant's last started daemon.
    public var coordinator: Subprocess? { processes.withLock { $0.coordinator } }
    public var participants: [Int: Subprocess] { processes.withLock { $0.participants } }

    public var pki: String { options.directory + "/pki" }
    public var coordinatorData: String { options.directory + "/coordinator" }
    public var coordinatorConfig: String { options.directory + "/coordinator.json" }
    public func participantConfig(_ i: Int) -> String { options.directory + "/participant-\(i).json" }
    public func log(_ name: String) -> String { options.directory + "/logs/\(name).log" }

    /// The status page address a daemon logged at start (`status page url=…`), if it has yet.
    public func statusURL(log name: String) -> String? {
        (try? String(contentsOfFile: log(name), encoding: .utf8)).flatMap(Self.statusURL(in:))
    }

    /// The status page address last logged in a daemon's log text.
    public static func statusURL(in text: String) -> String? {
        for line in text.split(separator: "\n").reversed() where line.contains("status page") {
            guard let range = line.range(of: "url=") else { continue }
            return String(line[range.upperBound...].prefix { !$0.isWhitespace })
        }
        return nil
    }

    /// The coordinator's privacy ledger and participant `i`'s local one.
    public var coordinatorLedger: String { coordinatorData + "/" + CoordinatorApp.ledgerFileName }
    public func participantLedger(_ i: Int) -> String { participantConfiguration(i).ledgerPath }

    /// Federation CA, coordinator certificate and one certificate per participant (ids 1...N).
    public func makePKI() throws {
        try runScript(options.certsScripts + "/create-federation-ca.sh", [pki, "Tally demo CA", "30"])
        try runScript(options.certsScripts + "/issue-certificate.sh", [pki, "coordinator"])
        for i in 1...options.participants {
            try runScript(options.certsScripts + "/issue-certificate.sh", [pki, "participant", "\(i)"])
        }
    }

    public func writeConfigurations() throws {
        try writeJSON(coordinatorConfiguration(), to: coordinatorConfig)
        for i in 1...options.participants {
            try writeJSON(participantConfiguration(i), to: participantConfig(i))
        }
    }

    /// The coordinator's configuration, as ``writeConfigurations()`` writes it.
    public func coordinatorConfiguration() -> CoordinatorConfiguration {
        var c = CoordinatorConfiguration()
        c.dataDirectory = coordinatorData
        c.port = port
        c.tls = TLSFiles(directory: pki + "/coordinator")
        c.revocationList = pki + "/ca/crl.pem"
        c.minParticipants = options.minParticipants ?? options.participants
        c.maxCohort = options.participants
        c.rounds = options.rounds
        c.stageTimeoutSeconds = options.stageTimeoutSeconds
        c.training = options.training
        c.evaluationData = options.evaluation && options.syntheticDimension == nil ? FashionMNIST.defaultDirectory : nil
        c.model = options.model
        c.syntheticDimension = options.syntheticDimension
        c.insecureDisableMasking = options.insecureDisableMasking
        c.roundIntervalSeconds = 0.05
        c.privacy = options.privacy
        c.clipNorm = options.clipNorm
        c.valueBits = options.valueBits
        c.serverOptimizer = options.serverOptimizer
        c.validation = options.validation
        c.collusionMargin = options.collusionMargin
        c.maskedInputDelaySeconds = options.maskedInputDelaySeconds
        // Many daemons share this machine: each status server takes a free port and logs it
        // (``statusURL(log:)``).
        c.status.port = 0
        return c
    }

    /// Participant `i`'s daemon configuration, as ``writeConfigurations()`` writes it.
    public func participantConfiguration(_ i: Int) -> ParticipantConfiguration {
        var p = ParticipantConfiguration()
        p.coordinatorHost = "127.0.0.1"
        p.coordinatorPort = port
        p.tls = TLSFiles(directory: pki + "/participant-\(i)")
        p.dataDirectory = options.directory + "/participant-\(i)"
        p.data.organizations = options.participants
        p.data.index = i - 1
        p.data.alpha = options.alpha
        p.data.heldOutFraction = options.heldOutFraction
        p.trainer = options.syntheticDimension == nil ? ParticipantConfiguration.builtInTrainerName : "noop"
        if let external = options.externalTrainers[i] {
            p.trainer = ParticipantConfiguration.externalTrainerName
            p.externalTrainer = external
        }
        p.privacyBudget.epsilon = options.participantBudgetEpsilon
        p.privacyBudget.delta = options.participantBudgetDelta
        p.privacyBudget.unit = options.participantBudgetUnit
        // The sites know the task's features in advance and compute them before joining.
        if p.trainer == ParticipantConfiguration.builtInTrainerName, options.model.featureTransform != .none {
            p.data.prepareFeatures = [options.model.features]
        }
        // Processes on one machine reconnect quickly after a coordinator restart.
        p.reconnectMaxSeconds = 2
        p.status.port = 0
        p.allowInsecureBenchmarkRounds = options.insecureDisableMasking || options.privacy.noiseMultiplier == 0
        return p
    }

    @discardableResult
    public func startCoordinator(environment: [String: String] = [:]) throws -> Subprocess {
        let process = try launch(
            "tally-coordinator", ["serve", "--config", coordinatorConfig], log: "coordinator", environment: environment)
        processes.withLock { $0.coordinator = process }
        return process
    }

    @discardableResult
    public func startParticipant(_ i: Int, configuration: String? = nil, environment: [String: String] = [:]) throws -> Subprocess {
        let process = try launch(
            "tally-participant", ["run", "--config", configuration ?? participantConfig(i)], log: "participant-\(i)",
            // Many daemons share few cores here: one BLAS thread each, not one per core each.
            environment: ["OPENBLAS_NUM_THREADS": "1"].merging(environment) { $1 })
        processes.withLock { $0.participants[i] = process }
        return process
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit, then kills it.
    public func stop(_ process: Subprocess?, signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) {
        process?.stop(signal: signal, timeout: timeout)
    }

    /// Stops the participants, then the coordinator.
    public func stopAll() {
        let (participants, coordinator) = processes.withLock { ($0.participants.values, $0.coordinator) }
        for p in participants { p.stop() }
        coordinator?.stop()
    }

    deinit { stopAll() }

    // MARK: Helpers

    private func launch(_ executable: String, _ arguments: [String], log name: String, environment: [String: String]) throws -> Subprocess {
        try Subprocess(options.executables + "/" + executable, arguments, environment: environment, output: .append(toFile: log(name)))
    }

    /// Runs one of the certs/ scripts (or any script) with bash; its output becomes the error.
    public func runScript(_ script: String, _ arguments: [String]) throws {
        try Subprocess.check("/bin/bash", [script] + arguments)
    }

    /// Every key, nil ones as `null`: the synthesized encoding leaves a nil out, and a nil whose
    /// default is not nil (`evaluationData`) would then load as the default.
    private func writeJSON(_ value: some Encodable, to path: String) throws {
        try Data(StrictJSON.encode(value)).write(to: URL(fileURLWithPath: path))
    }

    /// An unused loopback TCP port (bound and released; good enough for a local demo).
    public static func freePort() throws -> Int {
        // Below the kernel's ephemeral range (32768–60999 by default): a port the kernel handed
        // out for `bind(0)` can be taken by any outgoing connection (another federation's
        // participants) before the coordinator binds it. Random, so concurrent callers rarely meet.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000, using: &generator)
            if try canBind(port) { return port }
        }
        throw TallyError(.invalidArgument, "no free loopback port found in 20000..<32000")
    }

    /// Whether a loopback TCP port is free right now.
    private static func canBind(_ port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TallyError(.invalidArgument, "cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
    }
}
