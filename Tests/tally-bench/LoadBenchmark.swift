import ArgumentParser
import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation

/// Many participant processes on loopback, secure aggregation with DP, and crashes mid-run: how
/// long rounds take and how much memory the coordinator holds. Next to it, the floor this machine
/// puts under a round measured in the same run: every process shares its cores, and a round's
/// signature verifications alone (about 3 per peer for each participant, 3 per participant for
/// the coordinator) take their count over the measured verification rate times the cores.
struct LoadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "n participant processes, secure aggregation with DP, some killed mid-run: round times and coordinator memory (JSON).")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Participant processes.") var participants = 100
    @Option(help: "Model dimension d (a flat model; participants run the no-op trainer).") var dimension = 10_000
    @Option(help: "Rounds to release.") var rounds = 6
    @Option(help: "Participants killed with SIGKILL once two rounds are released.") var crashes = 10
    @Option(help: "Folder with the certs/ scripts.") var certs = "certs"

    struct Report: Encodable {
        let benchmark = "load"
        let machine = MachineInfo()
        let participants: Int, dimension: Int, crashed: Int
        let roundSeconds: [Double]
        let cohorts: [Int]
        let contributors: [Int]
        let dropped: [Int]
        let abortedRounds: Int
        let medianRoundSeconds: Double
        let coordinatorPeakRSSMiB: Double
        let participantRSSMiB: Double
        let verificationsPerRound: Int
        let verifyPerSecond: Double
        let cores: Int
        /// verificationsPerRound / (verifyPerSecond × cores): a floor, not an estimate of the rest.
        let verificationFloorSeconds: Double
        let medianOverFloor: Double
    }

    func run() throws {
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let directory = NSTemporaryDirectory() + "tally-bench-load-\(ProcessInfo.processInfo.processIdentifier)"
        var options = LocalFederation.Options(directory: directory, executables: executables)
        options.participants = participants
        options.rounds = rounds
        options.certsScripts = certs
        options.syntheticDimension = dimension
        options.minParticipants = participants - crashes
        options.stageTimeoutSeconds = 60
        options.maskedInputDelaySeconds = 0
        let federation = try LocalFederation(options: options)
        defer {
            federation.stopAll()
            try? FileManager.default.removeItem(atPath: directory)
        }
        try federation.makePKI()
        try federation.writeConfigurations()
        var processes: [Subprocess] = []
        for i in 1...participants { processes.append(try federation.startParticipant(i)) }
        let coordinator = try federation.startCoordinator()
        let databasePath = federation.coordinatorData + "/coordinator.sqlite"

        var peak = 0.0
        var participantRSS = 0.0
        var killed = false
        let deadline = ContinuousClock.now + .seconds(1800)
        while coordinator.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            peak = max(peak, Self.residentMiB(coordinator.processIdentifier) ?? 0)
            if participantRSS == 0, let rss = Self.residentMiB(processes[0].processIdentifier), rss > 0 { participantRSS = rss }
            guard !killed, FileManager.default.fileExists(atPath: databasePath),
                let store = try? CoordinatorStore(path: databasePath, readOnly: true),
                let released = try? store.rounds().filter({ $0.outcome == .released }).count, released >= 2
            else { continue }
            for process in processes.suffix(crashes) { kill(process.processIdentifier, SIGKILL) }
            killed = true
        }
        guard coordinator.waitForExit(timeout: .seconds(60)) == 0 else {
            throw ValidationError("coordinator did not finish cleanly; see \(federation.log("coordinator"))")
        }
        let store = try CoordinatorStore(path: databasePath, readOnly: true)
        let all = try store.rounds()
        let released = all.filter { $0.outcome == .released }
        let seconds = released.compactMap(\.seconds)
        let sorted = seconds.sorted()
        let verifications = 3 * participants * (participants - 1) + 3 * participants
        let verifyRate = try Self.verifyRate()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let floor = Double(verifications) / (verifyRate * Double(cores))
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        try Measure.printJSON(
            Report(
                participants: participants, dimension: dimension, crashed: crashes, roundSeconds: seconds,
                cohorts: released.map(\.cohort), contributors: released.map(\.contributors), dropped: released.map(\.dropped),
                abortedRounds: all.count - released.count, medianRoundSeconds: median, coordinatorPeakRSSMiB: peak,
                participantRSSMiB: participantRSS, verificationsPerRound: verifications, verifyPerSecond: verifyRate, cores: cores,
                verificationFloorSeconds: floor, medianOverFloor: median / floor))
    }

    /// VmRSS of `pid` in MiB, from /proc.
    static func residentMiB(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kB = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kB / 1024
    }

    /// ECDSA P-256 verifications per second through Tally's wrapper, on one core.
    static func verifyRate() throws -> Double {
        let key = try SigningPrivateKey(generating: .ecdsaP256)
        let message = [UInt8](repeating: 7, count: 200)
        let signature = try key.signature(for: message)
        let publicKey = key.publicKey
        return try Measure.rate { try publicKey.verify(signature, for: message) }
    }
}
