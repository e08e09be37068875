import ArgumentParser
import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyRound
import TallySecAgg

/// `tally-bench round --participants 10 --dimension 1000000 --json`: end-to-end rounds on loopback
/// with real processes and mTLS, no-op trainers, in three modes: the product (secure aggregation
/// and DP noise), DP without masking, and a plain round with neither (benchmark-only coordinator
/// settings that participants accept only with allowInsecureBenchmarkRounds). The differences are
/// what secure aggregation, and secure aggregation plus DP, cost per round.
/// Needs `swift build -c release` (all products) so the executables sit beside this one.
struct RoundBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "round",
        abstract: "End-to-end rounds on loopback (processes, mTLS), with and without secure aggregation.")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Participant processes.") var participants = 10
    @Option(help: "Model dimension d.") var dimension = 1_000_000
    @Option(help: "Rounds per mode (the first is a warm-up and not counted).") var rounds = 4
    @Option(help: "Folder with the certs/ scripts.") var certs = "certs"

    struct ModeResult: Encodable {
        let masking: Bool
        let noise: Bool
        let roundSeconds: [Double]
        let medianRoundSeconds: Double
        /// Mean seconds per protocol stage over all rounds (warm-up included), from the
        /// coordinator's `tally_stage_seconds` histogram.
        let stageMeanSeconds: [String: Double]
    }

    struct Report: Encodable {
        let benchmark = "round"
        let machine = MachineInfo()
        let participants: Int, dimension: Int, roundsMeasured: Int
        /// Secure aggregation + DP (the product); DP without masking; neither (a plain FedAvg round).
        let secure: ModeResult, unmasked: ModeResult, plain: ModeResult
        let secureAggregationOverheadSeconds: Double
        let secureOverUnmaskedRatio: Double
        let rawAESCTRGBps: Double
        /// Mask bytes one participant expands per round (self + n − 1 pairwise), and the raw
        /// keystream time for them: the floor of the masking work.
        let maskBytesPerParticipant: Int
        let rawKeystreamSecondsPerParticipant: Double
        /// One participant's DP encoding of a d-vector (clip, rotate, round, clamp, exact noise share),
        /// measured in this process; it runs in both modes, concurrently with the key exchange.
        let dpEncodeSecondsPerParticipant: Double
        /// Measured: secure + DP round minus the plain round (no masking, no noise), and the ratio.
        let secureAndDPOverheadSeconds: Double
        let secureAndDPOverPlainRatio: Double
        /// The consistency check's stage (lists out, signatures back) in the secure round, and as
        /// a ratio to the rest of the median round.
        let consistencyStageSeconds: Double
        let consistencyOverRestOfRound: Double
        /// Participants send their masked input at once in these runs (the product default holds
        /// it for a second so that its timing does not reveal training time).
        let maskedInputDelaySeconds = 0.0
    }

    func run() async throws {
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        for name in ["tally-coordinator", "tally-participant"] where !FileManager.default.isExecutableFile(atPath: executables + "/" + name)
        {
            throw ValidationError("\(executables)/\(name) is missing: run `swift build -c release` first")
        }
        let secure = try measure(masking: true, noise: true, executables: executables)
        let unmasked = try measure(masking: false, noise: true, executables: executables)
        let plain = try measure(masking: false, noise: false, executables: executables)
        let width = SlotLayout.headroomWidth(valueBits: 16, summands: participants)
        let layout = try SlotLayout(slotWidth: width, count: RandomizedHadamard.paddedDimension(dimension))
        let dp = try DistributedDPConfiguration(
            parameterCount: dimension, clipNorm: 0.5, noiseMultiplier: 1, valueBits: 16,
            threshold: SecAggConfiguration.minimumThreshold(neighbourhood: participants, collusionMargin: 1),
            collusionMargin: 1, cohortSize: participants)
        let encoder = try DistributedDPEncoder(configuration: dp, rotationSeed: [UInt8](repeating: 1, count: 32))
        let zeros = [Float](repeating: 0, count: dimension)
        let source = SystemRandom()
        let dpEncode = try Measure.best(repetitions: 3) { _ = try encoder.encode(zeros, random: source) }
        var buffer = [UInt8](repeating: 0, count: layout.limbCount * 8)
        let rawPerMask = buffer.withUnsafeMutableBytes { MachineLimits.aesCTRSeconds(into: $0, repetitions: 5) }
        try Measure.printJSON(
            Report(
                participants: participants, dimension: dimension, roundsMeasured: rounds - 1,
                secure: secure, unmasked: unmasked, plain: plain,
                secureAggregationOverheadSeconds: secure.medianRoundSeconds - unmasked.medianRoundSeconds,
                secureOverUnmaskedRatio: secure.medianRoundSeconds / unmasked.medianRoundSeconds,
                rawAESCTRGBps: Double(buffer.count) / rawPerMask / 1e9,
                maskBytesPerParticipant: buffer.count * participants,
                rawKeystreamSecondsPerParticipant: rawPerMask * Double(participants),
                dpEncodeSecondsPerParticipant: dpEncode,
                secureAndDPOverheadSeconds: secure.medianRoundSeconds - plain.medianRoundSeconds,
                secureAndDPOverPlainRatio: secure.medianRoundSeconds / plain.medianRoundSeconds,
                consistencyStageSeconds: secure.stageMeanSeconds[RoundStage.consistency.rawValue] ?? 0,
                consistencyOverRestOfRound: (secure.stageMeanSeconds[RoundStage.consistency.rawValue] ?? 0)
                    / (secure.medianRoundSeconds - (secure.stageMeanSeconds[RoundStage.consistency.rawValue] ?? 0))))
    }

    private func measure(masking: Bool, noise: Bool, executables: String) throws -> ModeResult {
        let directory =
            NSTemporaryDirectory()
            + "tally-bench-round-\(masking ? "secure" : "unmasked")-\(noise ? "dp" : "nodp")-\(ProcessInfo.processInfo.processIdentifier)"
        var options = LocalFederation.Options(directory: directory, executables: executables)
        options.participants = participants
        options.rounds = rounds
        options.certsScripts = certs
        options.syntheticDimension = dimension
        options.insecureDisableMasking = !masking
        if !noise { options.privacy = PrivacySettings(noiseMultiplier: 0) }
        options.stageTimeoutSeconds = 60
        // The protocol's cost, not the privacy setting that holds inputs back (0 sends at once).
        options.maskedInputDelaySeconds = 0
        let federation = try LocalFederation(options: options)
        defer { federation.stopAll() }
        try federation.makePKI()
        try federation.writeConfigurations()
        for i in 1...participants { try federation.startParticipant(i) }
        let coordinator = try federation.startCoordinator()
        guard coordinator.waitForExit(timeout: .seconds(600)) == 0 else {
            throw ValidationError("coordinator did not finish cleanly; see \(federation.log("coordinator"))")
        }
        let store = try CoordinatorStore(path: federation.coordinatorData + "/coordinator.sqlite", readOnly: true)
        let seconds = try store.rounds().filter { $0.outcome == .released }.compactMap(\.seconds)
        guard seconds.count == rounds else { throw ValidationError("only \(seconds.count) of \(rounds) rounds released") }
        let measured = Array(seconds.dropFirst()).sorted()
        return ModeResult(
            masking: masking, noise: noise, roundSeconds: Array(seconds), medianRoundSeconds: measured[measured.count / 2],
            stageMeanSeconds: try Self.stageMeans(metricsFile: federation.coordinatorData + "/metrics.prom"))
    }

    /// `tally_stage_seconds_sum{stage="S"} X` and `_count` lines of the Prometheus text file.
    static func stageMeans(metricsFile: String) throws -> [String: Double] {
        let text = try String(contentsOfFile: metricsFile, encoding: .utf8)
        var sums: [String: Double] = [:], counts: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            for (prefix, isSum) in [("tally_stage_seconds_sum{stage=\"", true), ("tally_stage_seconds_count{stage=\"", false)]
            where line.hasPrefix(prefix) {
                let rest = line.dropFirst(prefix.count)
                guard let quote = rest.firstIndex(of: "\""), let value = Double(rest.split(separator: " ").last ?? "") else { continue }
                let stage = String(rest[..<quote])
                if isSum { sums[stage] = value } else { counts[stage] = value }
            }
        }
        return sums.reduce(into: [:]) { result, item in
            if let count = counts[item.key], count > 0 { result[item.key] = item.value / count }
        }
    }
}
