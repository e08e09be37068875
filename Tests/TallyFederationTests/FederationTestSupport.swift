import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TallyCoordinator
import TallyCore
import TallyRound
import TallyModel
import TallyWire

/// Where `swift build` put the executables: beside the test bundle.
func executablesDirectory() -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
}

/// The repository root (for the certs/ scripts), found from this source file.
func repositoryRoot() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

func makeFederation(_ name: String, participants: Int, rounds: Int, stageTimeout: Double = 20, minParticipants: Int? = nil,
                    insecure: Bool = false) throws -> LocalFederation {
    let directory = NSTemporaryDirectory() + "tally-test-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    var options = LocalFederation.Options(directory: directory, executables: executablesDirectory())
    options.participants = participants
    options.rounds = rounds
    options.certsScripts = repositoryRoot() + "/certs"
    options.stageTimeoutSeconds = stageTimeout
    options.evaluation = false
    options.minParticipants = minParticipants
    options.training = TrainingSettings(localEpochs: 1, batchSize: 64, learningRate: 0.05, seed: 1)
    options.insecureDisableMasking = insecure
    let federation = try LocalFederation(options: options)
    try federation.makePKI()
    try federation.writeConfigurations()
    return federation
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

func waitForExit(_ process: Process, seconds: Double) -> Bool {
    waitUntil(seconds) { !process.isRunning }
}

func readLog(_ federation: LocalFederation, _ name: String) -> String {
    (try? String(contentsOfFile: federation.log(name), encoding: .utf8)) ?? ""
}

func openStore(_ federation: LocalFederation) -> CoordinatorStore? {
    let path = federation.coordinatorData + "/coordinator.sqlite"
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    return try? CoordinatorStore(path: path, readOnly: true)
}

/// Opens one Session with `tls` against the coordinator and reports how it went: "welcome" if
/// the coordinator admitted us, otherwise the error. Bounded by `seconds`.
func attemptSession(port: Int, tls: TLSFiles, seconds: Double = 10) async -> String {
    do {
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port),
                                                               transportSecurity: tls.clientSecurity())
                return try await withGRPCClient(transport: transport) { client in
                    let federation = Tally_V1_Federation.Client(wrapping: client)
                    return try await federation.session { writer in
                        try await writer.write(.with { $0.hello = .with { h in h.protocolVersion = 1 } })
                        try await Task.sleep(for: .seconds(seconds))
                    } onResponse: { response in
                        for try await message in response.messages {
                            if case .welcome = message.body { return "welcome" }
                        }
                        return "closed"
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return "timeout"
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    } catch let error as RPCError {
        return "error: [\(error.code)] \(error.message) \(error.cause.map { "\($0)" } ?? "")"
    } catch {
        return "error: \(error)"
    }
}

/// Runs `openssl` (certificate fixtures made at test time, never committed).
func openssl(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw TallyError(.invalidArgument, "openssl \(arguments.joined(separator: " ")): \(output)") }
}
