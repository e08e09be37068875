import ArgumentParser
import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyRound
import TallySecAgg
import TallyWire

/// README command 1: a whole federation on loopback, on real data, in one command.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a complete local federation: throwaway CA, a coordinator and N participant processes on Fashion-MNIST.")

    @Option(
        help: "Participants (organizations). Participant-level DP needs many: the noise is the same whatever n, the signal grows with n.")
    var participants = 20
    @Option(
        help:
            "What the guarantee protects: organization (each organization's whole update) or record (each record; DP-SGD across the organizations)."
    )
    var privacyUnit = "record"
    @Option(help: "Rounds to run (default 100 for the record unit, one DP-SGD step each; 10 for the organization unit).")
    var rounds: Int?
    @Option(
        name: .customLong("epsilon"),
        help:
            "Target ε over all rounds; the noise multiplier is calibrated to it (default 3 for the record unit, 10 for the organization unit)."
    )
    var targetEpsilon: Double?
    var epsilon: Double { targetEpsilon ?? (unit == .record ? 3 : 10) }
    @Option(help: "Target δ.") var delta = 1e-5
    @Option(help: "ℓ2 clip norm C of each organization's update, or of each record's gradient (default 0.5, or 1 for the record unit).")
    var clipNorm: Double?
    @Option(
        help:
            "Record unit: the expected number of records in each round's sample, across the federation (each record is sampled with q = batch / records)."
    )
    var batchSize = 4096
    @Option(help: "Each organization's own ε budget (rounds that would exceed it are declined); default: 1.5 × --epsilon, at least 15.")
    var budgetEpsilon: Double?

    /// The organizations' budget: above the federation's target, so the target is what stops it.
    var budget: Double { budgetEpsilon ?? max(15, 1.5 * epsilon) }
    @Option(help: "Working directory (default: a fresh one under /tmp).") var directory: String?
    @Option(help: "Dirichlet α of the non-IID split (smaller is more skewed).") var alpha = 1.0
    @Option(help: "Folder with the certs/ scripts.") var certs = "certs"
    @Option(help: "Local epochs per round.") var localEpochs = 1
    @Option(help: "Local learning rate.") var learningRate = 0.05
    @Option(help: "Server optimizer: fedavg, fedavgm, fedadagrad, fedadam or fedyogi (default fedavg, or fedavgm for the record unit).")
    var serverOptimizer: String?
    @Option(help: "Server learning rate η (FedAvg with η = 1 is plain FedAvg; default 1, or 2 for the record unit).")
    var serverLearningRate: Double?
    @Option(help: "Model: logistic-regression, or mlp (a multilayer perceptron on OpenBLAS).") var model = "logistic-regression"
    @Option(help: "Hidden layer widths of the MLP, comma-separated.") var hidden = "256"
    @Option(help: "Activation of the MLP's hidden layers: relu or tanh.") var activation = "relu"
    @Option(
        help:
            "Features the model learns from: none (the raw pixels) or scattering (ScatterNet features, computed by each organization from its own images; no privacy cost). Default: scattering for the record unit, none otherwise."
    )
    var features: String?

    var unit: PrivacyUnit { PrivacyUnit(rawValue: privacyUnit) ?? .organization }
    var roundCount: Int { rounds ?? (unit == .record ? 100 : 10) }

    func validate() throws {
        guard (2...1000).contains(participants) else { throw ValidationError("--participants must be in 2...1000, got \(participants)") }
        guard PrivacyUnit(rawValue: privacyUnit) != nil else {
            throw ValidationError("--privacy-unit must be organization or record, got \(privacyUnit)")
        }
        guard (1...10_000).contains(roundCount) else { throw ValidationError("--rounds must be in 1...10000, got \(roundCount)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard localEpochs >= 1 else { throw ValidationError("--local-epochs must be at least 1, got \(localEpochs)") }
        // Every real-valued option finite and in range, so a typo is refused here, not deep in a round.
        for (name, value, range) in [
            ("--epsilon", targetEpsilon, 1e-6...1e6), ("--delta", delta, 1e-300...0.5), ("--clip-norm", clipNorm, 1e-9...1e6),
            ("--budget-epsilon", budgetEpsilon, 0...1e9), ("--alpha", alpha, 1e-6...1e6), ("--learning-rate", learningRate, 1e-12...1e6),
            ("--server-learning-rate", serverLearningRate, 1e-12...1e6),
        ] as [(String, Double?, ClosedRange<Double>)] {
            if let value, !range.contains(value) {
                throw ValidationError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
        }
    }

    func run() async throws {
        MemoryTuning.keepLargeBuffers()
        ConsoleOutput.lineBuffered()
        let dir = directory ?? NSTemporaryDirectory() + "tally-demo-\(ProcessInfo.processInfo.processIdentifier)"
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: certs + "/create-federation-ca.sh") else {
            throw ValidationError("cannot find the certs/ scripts at \(certs) (run from the repository root or pass --certs)")
        }
        var options = LocalFederation.Options(directory: dir, executables: executables)
        options.participants = participants
        options.rounds = roundCount
        options.alpha = alpha
        options.certsScripts = certs
        options.training = TrainingSettings(localEpochs: localEpochs, batchSize: 32, learningRate: learningRate, seed: 1)
        options.model.kind = model
        options.model.hidden = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        options.model.activation = activation
        options.model.features = features ?? (unit == .record ? FeatureTransform.scattering : .none).rawValue
        do { try options.model.validate() } catch { throw ValidationError(error.message) }
        guard model != "external" else { throw ValidationError("--model must be logistic-regression or mlp") }
        options.privacy = PrivacySettings(targetEpsilon: epsilon, delta: delta)
        let records = unit == .record
        let clipNorm = self.clipNorm ?? (records ? 1 : 0.5)
        options.clipNorm = clipNorm
        // Each organization holds out a tenth of its images: it scores every version on them, and
        // their sums, added to the round's under secure aggregation, drive the publish gate.
        options.heldOutFraction = Self.heldOutFraction
        // Record unit: every record of the federation's training part is sampled with q = B / N.
        let trainingRecords = Int((Double(FashionMNIST.trainCount) * (1 - Self.heldOutFraction)).rounded())
        let samplingRate = Double(batchSize) / Double(trainingRecords)
        if records {
            guard samplingRate < 1 else {
                throw ValidationError("--batch-size must be below the \(trainingRecords) training records, got \(batchSize)")
            }
            options.privacy.unit = .record
            options.privacy.samplingRate = samplingRate
            options.privacy.expectedBatchSize = batchSize
            options.valueBits = 30
            options.participantBudgetUnit = .record
            // A record round's work is one gradient per sampled record (milliseconds here): the
            // hold that hides its duration, and so the sample's size, need not be a second long.
            options.maskedInputDelaySeconds = 0.25
        }
        let serverOptimizer = self.serverOptimizer ?? (records ? "fedavgm" : "fedavg")
        let serverLearningRate = self.serverLearningRate ?? (records ? 2 : 1)
        guard let kind = ServerOptimizer.Kind(rawValue: serverOptimizer) else {
            throw ValidationError(
                "--server-optimizer must be one of \(ServerOptimizer.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        options.serverOptimizer = ServerOptimizer.Settings(kind: kind, learningRate: serverLearningRate)
        options.participantBudgetEpsilon = budget
        options.participantBudgetDelta = delta
        try await Self.ensureExecutables(["tally-participant", "tally-audit"], in: executables)
        let federation = try LocalFederation(options: options)
        // SIGTERM or SIGINT (Ctrl-C, `timeout`) stops every process the demo started, then exits.
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                federation.stopAll()
                Foundation.exit(128 + number)
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let z = try federation.coordinatorConfiguration().noiseMultiplier(
            parameterCount: try options.model.initialModel().parameterCount)
        print(
            "Tally demo: \(participants) organizations, \(roundCount) rounds, Fashion-MNIST split non-IID (Dirichlet α = \(alpha)), model \(model == "mlp" ? "MLP \(options.model.hidden.map(String.init).joined(separator: "-")) \(activation)" : "logistic regression")\(options.model.featureTransform == .scattering ? " on ScatterNet features (computed by each organization)" : "")"
        )
        if records {
            print(
                "differential privacy: target (ε = \(epsilon), δ = \(delta)) per record over \(roundCount) rounds, each record sampled with q = \(String(format: "%.4f", samplingRate)) (expected batch \(batchSize) of \(trainingRecords)) → noise multiplier z = \(String(format: "%.3f", z)), per-record clip C = \(clipNorm); each organization's budget ε = \(budget) for its records"
            )
        } else {
            print(
                "differential privacy: target (ε = \(epsilon), δ = \(delta)) per organization over \(roundCount) rounds → noise multiplier z = \(String(format: "%.3f", z)), clip C = \(clipNorm); each organization's budget ε = \(budget)"
            )
        }
        let t = SecAggConfiguration.minimumThreshold(neighbourhood: participants, collusionMargin: options.collusionMargin)
        print(
            "secure aggregation: threshold t = \(t) of \(participants), tolerating c = \(options.collusionMargin) colluding participants (2t > n + c); each noise share is sized so that any t − c = \(t - options.collusionMargin) honest shares carry the full noise"
        )
        print("server optimizer: \(serverOptimizer), η = \(serverLearningRate) (applied to the decoded noisy mean: no privacy cost)")
        print("working directory: \(dir)")
        try federation.makePKI()
        try federation.writeConfigurations()
        print("federation CA and \(participants + 1) certificates issued (mTLS, ECDSA P-256); coordinator on 127.0.0.1:\(federation.port)")
        let coordinator = try federation.startCoordinator()
        for i in 1...participants { try federation.startParticipant(i) }
        print("started 1 coordinator and \(participants) participant processes; logs in \(dir)/logs/")
        if options.model.featureTransform != .none {
            print(
                "each organization computes the ScatterNet features of its images before joining (about a millisecond per image per core)")
        }
        // The live status pages, once the daemons have logged their addresses.
        for _ in 0..<100 where federation.statusURL(log: "coordinator") == nil || federation.statusURL(log: "participant-1") == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        if let url = federation.statusURL(log: "coordinator") {
            print(
                "live status (open in a browser while it runs): \(url)  organization 1's own page: \(federation.statusURL(log: "participant-1") ?? "-")"
            )
        }
        print("")
        print("round  cohort  counted  dropped  test acc.  seconds  version  federated evaluation of the version it started from")

        let started = Date()
        var printed = Set<Int64>()
        var store: CoordinatorStore?
        while coordinator.isRunning {
            try await Task.sleep(for: .milliseconds(300))
            if store == nil, FileManager.default.fileExists(atPath: federation.coordinatorData + "/coordinator.sqlite") {
                try await Task.sleep(for: .milliseconds(300))
                store = try? CoordinatorStore(path: federation.coordinatorData + "/coordinator.sqlite", readOnly: true)
            }
            guard let store, let rounds = try? store.rounds(), let versions = try? store.versions() else { continue }
            // Many record-level rounds: about 30 lines, the last round and every abort always.
            let every = Int64(max(1, roundCount / 30))
            for r in rounds where r.outcome != .running && !printed.contains(r.id) {
                printed.insert(r.id)
                guard r.id % every == 0 || r.id == Int64(roundCount) || r.outcome != .released else { continue }
                let accuracy = versions.first { $0.version == r.version }?.accuracy
                print(
                    String(
                        format: "%5lld  %6d  %7d  %7d  %9@  %7@  %-7@  %@", r.id, r.cohort, r.contributors, r.dropped,
                        accuracy.map { String(format: "%.4f", $0) } ?? "-", r.seconds.map { String(format: "%.2f", $0) } ?? "-",
                        r.outcome == .released ? "v\(r.version ?? 0)" : "aborted: \(r.reason ?? "")",
                        r.version.flatMap { produced in Self.gateLine(versions.first { $0.version == produced - 1 }) } ?? ""))
            }
        }
        federation.stopAll()
        let status = coordinator.exitStatus ?? 1
        let final = try CoordinatorStore(path: federation.coordinatorData + "/coordinator.sqlite", readOnly: true)
        guard let newest = try final.latestVersion(), newest.version > 0, let latest = try final.publishedVersion() else {
            print("\nno model version was released; see \(dir)/logs/coordinator.log")
            throw ExitCode(1)
        }
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let counts = Dictionary(grouping: try final.versions(), by: \.status).mapValues(\.count)
        print(
            """

            done in \(String(format: "%.1f", Date().timeIntervalSince(started))) s (coordinator exit status \(status)).
            publish gate: \(counts[.published, default: 0]) versions published, \(counts[.notPublished, default: 0]) evaluated and not published, \(counts[.candidate, default: 0]) not evaluated yet (v\(newest.version), the last round's)
            best published model: version \(latest.version), federated accuracy \(latest.validationMetrics.map { String(format: "%.4f", $0.accuracy) + ($0.accuracyNoise.map { String(format: " ± %.3f", $0) } ?? "") } ?? "-") on the sites' held-out records (± the noise's σ), test accuracy \(latest.accuracy.map { String(format: "%.4f", $0) } ?? "-")
              blob:     \(registry.blobPath(hash: latest.modelHash))
              manifest: \(federation.coordinatorData)/registry/manifests/\(latest.version).json (signed by the coordinator)
            inspect:    swift run tally-coordinator registry list --data \(federation.coordinatorData)
                        swift run tally-coordinator registry show --data \(federation.coordinatorData) --ca \(federation.pki)/ca/ca.crt
            """)
        print("\nprivacy ledger: \(federation.coordinatorLedger) (one signed, hash-chained entry per release)\n")
        let audit = executables + "/tally-audit"
        let verified = try await Self.runAndPrint(audit, ["verify", federation.coordinatorLedger, "--ca", federation.pki + "/ca/ca.crt"])
        try await Self.runAndPrint(
            audit,
            [
                "report", federation.coordinatorLedger, "--delta", "\(delta)", "--budget-epsilon", "\(budget)",
                "--plot", dir + "/epsilon.svg",
            ])
        print("\nε over rounds plotted to \(dir)/epsilon.svg. Organization 1's own ledger, charged at the guaranteed t − c shares:\n")
        try await Self.runAndPrint(
            audit, ["report", federation.participantLedger(1), "--delta", "\(delta)", "--budget-epsilon", "\(budget)"])
        if status != 0 { throw ExitCode(status) }
        if verified != 0 { throw ExitCode(verified) }
    }

    /// The fraction of each organization's images it holds out for evaluation.
    static let heldOutFraction = 0.1

    /// A round line's last column: the federated evaluation of the version the round started
    /// from, and the gate's decision on it.
    static func gateLine(_ version: CoordinatorStore.VersionRecord?) -> String? {
        guard let version else { return nil }
        let metrics = version.validationMetrics
        return
            "v\(version.version): accuracy \(metrics.map { String(format: "%.4f", $0.accuracy) } ?? "-") (score \(version.gateScore.map { String(format: "%.4f", $0) } ?? "-")), \(version.status.rawValue)"
    }

    /// `swift run tally-coordinator` builds only this product; the demo also needs its siblings.
    static func ensureExecutables(_ names: [String], in folder: String) async throws {
        let missing = names.filter { !FileManager.default.isExecutableFile(atPath: folder + "/" + $0) }
        guard !missing.isEmpty else { return }
        let configuration = folder.hasSuffix("/release") ? "release" : "debug"
        for name in missing {
            print("building \(name) (\(configuration))…")
            guard try await runAndPrint("/usr/bin/env", ["swift", "build", "-c", configuration, "--product", name], quiet: true) == 0 else {
                throw ValidationError("could not build \(name); run `swift build` first")
            }
        }
    }

    /// Runs `executable` with its output on this terminal (or discarded) and returns its exit status.
    @discardableResult
    static func runAndPrint(_ executable: String, _ arguments: [String], quiet: Bool = false) async throws -> Int32 {
        let process = try Subprocess(executable, arguments, output: quiet ? .discard : .inherit)
        guard let status = await process.exited(within: .seconds(1800)) else {
            process.stop()
            throw TallyError(.invalidArgument, "\(executable) \(arguments.joined(separator: " ")) did not finish within 30 minutes")
        }
        return status
    }
}
