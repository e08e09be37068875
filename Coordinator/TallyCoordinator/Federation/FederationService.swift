import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import TallyCore
import TallyModel
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
    let registry: ModelRegistry
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
                    // this one, or when its certificate stopped admitting it (revoked while
                    // connected); then this stream ends too, releasing what it holds.
                    if let closure = await sessions.refusal(id, generation: generation) { throw SessionRefused(closure: closure) }
                    if await !sessions.isCurrent(id, generation: generation) { throw SessionReplaced() }
                }
                group.addTask {
                    defer { continuation.finish() }
                    for try await message in request {
                        if await sessions.heardFrom(id) {
                            logger.info("participant answered again; it is scheduled again", metadata: ["participant": "\(id.rawValue)"])
                        }
                        if case .pong = message.body { continue }
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
        } catch let refused as SessionRefused {
            log.warning("participant session closed by the coordinator", metadata: ["reason": "\(refused.closure.reason)"])
            await sessions.unregister(id, generation: generation)
            // Permanent (revoked, banned): the participant stops retrying; a disconnect is not.
            throw RPCError(code: refused.closure.permanent ? .permissionDenied : .unavailable, message: refused.closure.reason)
        } catch is SessionReplaced {
            log.info("participant stream replaced by a newer one")
            throw RPCError(code: .aborted, message: "a newer session of participant \(id.rawValue) replaced this one")
        } catch let error as RPCError where error.code == .invalidArgument {
            // A message that does not decode (malformed protobuf): the stream ends with that
            // status, not OK, and the operator sees it.
            log.warning("participant sent a malformed message; its stream is closed", metadata: ["reason": "\(error.message)"])
            await sessions.unregister(id, generation: generation)
            throw RPCError(code: .invalidArgument, message: "malformed message: \(error.message)")
        } catch {
            log.info("participant stream ended", metadata: ["reason": "\(error)"])
        }
        await sessions.unregister(id, generation: generation)
        log.info("participant disconnected")
    }

    // MARK: Published models

    /// Versions a participant may fetch: published by the gate, or published and since rolled
    /// back. Candidates and versions the gate turned down stay with the coordinator.
    static func fetchable(_ version: CoordinatorStore.VersionRecord) -> Bool {
        version.status == .published || version.status == .rolledBack
    }

    func listModels(request: Tally_V1_ListModelsRequest, context: ServerContext) async throws -> Tally_V1_ModelList {
        let (id, _, _) = try await authenticate(context)
        let versions = try store.versions().filter(Self.fetchable)
        let published = try store.publishedVersion()?.version
        logger.info("participant listed the published models", metadata: ["participant": "\(id.rawValue)"])
        return .with { list in
            if let published { list.publishedVersion = published }
            list.versions = versions.map { v in
                .with {
                    $0.version = v.version
                    $0.status = v.status.rawValue
                    $0.modelHash = v.modelHash
                    if let metrics = v.validationMetrics {
                        $0.federatedAccuracy = metrics.accuracy
                        $0.federatedLoss = metrics.loss
                    }
                }
            }
        }
    }

    func pullModel(
        request: Tally_V1_PullModelRequest, response: RPCWriter<Tally_V1_PulledModelChunk>, context: ServerContext
    ) async throws {
        let (id, _, _) = try await authenticate(context)
        let wanted = request.hasVersion ? request.version : nil
        let record = try wanted.map { (number) throws(TallyError) in try store.version(number) } ?? store.publishedVersion()
        guard let record, Self.fetchable(record) else {
            throw RPCError(
                code: .notFound,
                message: wanted.map { "version \($0) is not a published version" } ?? "no version is published yet")
        }
        let pieces = MessageChunking.split(try registry.compressedBlob(hash: record.modelHash))
        for (i, piece) in pieces.enumerated() {
            try await response.write(
                .with {
                    if i == 0 {
                        $0.manifest = Data(record.manifest)
                        $0.manifestSignature = Data(record.signature)
                    }
                    $0.index = UInt32(i)
                    $0.count = UInt32(pieces.count)
                    $0.data = Data(piece)
                })
        }
        logger.info("participant pulled a published model", metadata: ["participant": "\(id.rawValue)", "version": "\(record.version)"])
    }

    /// This stream's certificate was revoked (or expired) while it was open.
    private struct SessionRefused: Error { let closure: ParticipantSessions.Closure }

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
            if let ban = try store.ban(of: id.rawValue) {
                throw TallyError(.permissionDenied, "participant \(id.rawValue) is banned from this federation (\(ban.summary))")
            }
            return (id, try FederationTrust.pem(of: certificate), try FederationTrust.signingKey(of: certificate))
        } catch let error as TallyError {
            logger.warning("refused a connection", metadata: ["peer": "\(context.remotePeer)", "reason": "\(error)"])
            throw RPCError(code: .permissionDenied, message: error.description)
        }
    }
}
