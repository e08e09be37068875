import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyModel
import TallyRound
import TallyTestSupport
import TallyWire
import Testing

func makeFederation(
    _ name: String, participants: Int, rounds: Int, stageTimeout: Double = 20, minParticipants: Int? = nil,
    insecure: Bool = false, configure: (inout LocalFederation.Options) -> Void = { _ in }
) throws -> LocalFederation {
    var options = LocalFederation.Options(directory: try TestDirectories.make(name), executables: TestEnvironment.executables)
    options.participants = participants
    options.rounds = rounds
    options.certsScripts = TestEnvironment.certsScripts
    options.stageTimeoutSeconds = stageTimeout
    options.evaluation = false
    options.minParticipants = minParticipants
    options.training = TrainingSettings(localEpochs: 1, batchSize: 64, learningRate: 0.05, seed: 1)
    options.insecureDisableMasking = insecure
    configure(&options)
    let federation = try LocalFederation(options: options)
    try federation.makePKI()
    try federation.writeConfigurations()
    return federation
}

extension LedgerEntry {
    /// σ per coordinate of the released sum's noise, in model units: every contributor's share,
    /// the c colluders' included. The ledger's ``effectiveNoiseMultiplier`` counts only the shares
    /// the guarantee may rely on (contributors − c), so it understates the noise actually added.
    var noiseInTheSum: Double {
        (Double(noiseShares + collusionMargin) * shareSigmaSquared).squareRoot() / l2Sensitivity * clipNorm
    }
}

/// Checks `condition` every 50 ms, sleeping in between without holding a thread, until it holds
/// or `seconds` pass.
func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

/// Whether `process` exits within `seconds`.
func waitForExit(_ process: Subprocess, seconds: Double) async -> Bool {
    await process.exited(within: .seconds(seconds)) != nil
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
                let transport = try tls.clientTransport(host: "127.0.0.1", port: port)
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

/// Serves `transport` (no services) on loopback for the duration of `body`, which gets the port.
func withServer(_ transport: HTTP2ServerTransport.Posix, _ body: (Int) async throws -> Void) async throws {
    let server = GRPCServer(transport: transport, services: [])
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        defer {
            server.beginGracefulShutdown()
            group.cancelAll()
        }
        let port = try #require(try await transport.listeningAddress.ipv4?.port)
        try await body(port)
    }
}
