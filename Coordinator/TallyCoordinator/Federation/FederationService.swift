import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import TallyCore
import TallySecAgg
import TallyWire

/// The gRPC face of the coordinator: authenticates each Session stream by its client certificate
/// (CA chain verified by TLS; role, allowlist and revocation checked here), then shuttles messages
/// between the stream and the round engine.
struct FederationService: Tally_V1_Federation.SimpleServiceProtocol {
    let configuration: CoordinatorConfiguration
    let sessions: ParticipantSessions
    let engine: RoundEngine
    let store: CoordinatorStore
    let logger: Logger

    func session(
        request: RPCAsyncSequence<Tally_V1_ParticipantMessage, any Error>,
        response: RPCWriter<Tally_V1_CoordinatorMessage>,
        context: ServerContext
    ) async throws {
        let (id, pem, key) = try await authenticate(context)
        var log = logger
        log[metadataKey: "participant"] = "\(id.rawValue)"
        try? store.participantConnected(id.rawValue)
        let (outbound, continuation) = AsyncStream.makeStream(of: Tally_V1_CoordinatorMessage.self)
        let generation = await sessions.register(id, certificatePEM: pem, signingKey: key, outbound: continuation)
        log.info("participant connected", metadata: ["peer": "\(context.remotePeer)"])
        defer { continuation.finish() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in outbound { try await response.write(message) }
                    // The queue also ends when a newer stream of the same participant replaced
                    // this one; then this stream ends too, releasing what it holds.
                    if await !sessions.isCurrent(id, generation: generation) { throw SessionReplaced() }
                }
                group.addTask {
                    defer { continuation.finish() }
                    for try await message in request {
                        if case .hello(let hello) = message.body {
                            await sessions.hello(id, hello)
                            continuation.yield(.with { $0.welcome = .with { w in w.participantID = id.rawValue } })
                        } else {
                            await engine.receive(from: id, message)
                        }
                    }
                }
                // Not waitForAll: it waits for every child even after one threw; the first error
                // (a replaced stream) must end the other side at once.
                while try await group.next() != nil {}
            }
        } catch is SessionReplaced {
            log.info("participant stream replaced by a newer one")
            throw RPCError(code: .aborted, message: "a newer session of participant \(id.rawValue) replaced this one")
        } catch {
            log.info("participant stream ended", metadata: ["reason": "\(error)"])
        }
        await sessions.unregister(id, generation: generation)
        log.info("participant disconnected")
    }

    /// This stream's participant opened a newer one.
    private struct SessionReplaced: Error {}

    /// Who is on the other end, or a clear refusal.
    private func authenticate(_ context: ServerContext) async throws -> (ParticipantID, String, SigningPublicKey) {
        guard let tls = context.transportSpecific as? HTTP2ServerTransport.Posix.Context, let certificate = tls.peerCertificate else {
            throw RPCError(code: .unauthenticated, message: "a client certificate from the federation CA is required")
        }
        do {
            // The CRL is re-read per connection so a revocation takes effect without a restart.
            let trust = try FederationTrust(caFile: configuration.tls.certificateAuthority, crlFile: configuration.revocationList)
            let identity = try await trust.verify(certificate)
            guard case .participant(let id) = identity else {
                throw TallyError(.permissionDenied, "a \(identity) certificate cannot join as a participant")
            }
            if let allowed = configuration.allowedParticipants, !allowed.contains(id.rawValue) {
                throw TallyError(.permissionDenied, "participant \(id.rawValue) is not on this federation's allowlist")
            }
            return (id, try FederationTrust.pem(of: certificate), try FederationTrust.signingKey(of: certificate))
        } catch let error as TallyError {
            logger.warning("refused a connection", metadata: ["peer": "\(context.remotePeer)", "reason": "\(error)"])
            throw RPCError(code: .permissionDenied, message: error.description)
        }
    }
}
