import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyLedger
import TallyStatus
import TallyWire

/// The organization's daemon: keeps one outbound mTLS Session to the coordinator, reconnecting
/// with exponential backoff and full jitter, and stops cleanly on graceful shutdown.
public struct ParticipantDaemon: Service {
    public let configuration: ParticipantConfiguration
    public let logger: Logger
    public let hooks: ParticipantHooks

    public init(configuration: ParticipantConfiguration, hooks: ParticipantHooks = .none, logger: Logger) {
        self.hooks = hooks
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let c = configuration
        try FileManager.default.createDirectory(atPath: c.dataDirectory, withIntermediateDirectories: true)
        let identityKey = try SigningPrivateKey(pem: FederationTrust.readPEM(c.tls.privateKey, what: "participant private key"))
        let trust = try FederationTrust(caFile: c.tls.certificateAuthority)
        let certificatePEM = try FederationTrust.readPEM(c.tls.certificate, what: "participant certificate")
        guard case .participant(let me) = try PeerIdentity(certificate: .init(pemEncoded: certificatePEM)) else {
            throw TallyError(.permissionDenied, "the configured certificate is not a participant certificate")
        }
        let budget = try BudgetGuard(
            directory: c.dataDirectory, participant: me.rawValue, signingKey: identityKey,
            certificatePEM: certificatePEM,
            budget: PrivacyBudget(epsilon: c.privacyBudget.epsilon, delta: c.privacyBudget.delta))
        let spent = try budget.spent()
        logger.info(
            "privacy budget",
            metadata: [
                "epsilon": "\(c.privacyBudget.epsilon)", "delta": "\(c.privacyBudget.delta)",
                "spent": "\(String(format: "%.3f", spent))", "ledger": "\(c.dataDirectory)/\(BudgetGuard.fileName)",
            ])
        // The no-op and external trainers read no data through the daemon (an external program
        // reads its own).
        let data =
            ["noop", ParticipantConfiguration.externalTrainerName].contains(c.trainer) ? LocalData.none : try LocalData(source: c.data)
        if data.exampleCount > 0 {
            logger.info(
                "local data loaded",
                metadata: ["examples": "\(data.exampleCount)", "held_out": "\(data.heldOut?.count ?? 0)", "source": "\(c.data.summary)"])
            // Before joining, so the first round does not wait for them.
            for features in try c.data.preparedFeatures() where features != .none {
                let start = ContinuousClock.now
                let prepared = try data.examples(for: features)
                logger.info(
                    "features prepared",
                    metadata: [
                        "features": "\(features.rawValue)", "per_example": "\(prepared?.train.featureCount ?? 0)",
                        "seconds": "\(String(format: "%.2f", start.secondsElapsed))",
                    ])
            }
        }

        let registry = PrometheusCollectorRegistry()
        let activity = ParticipantActivity(registry: registry)
        // The daemon's life is its session loop, which a graceful shutdown (SIGTERM) cancels; the
        // status server runs outside that cancellation, in a group of its own, and is shut down
        // gracefully once the loop has ended.
        try await withThrowingTaskGroup(of: Void.self) { group in
            var statusGroup: ServiceGroup?
            if c.status.enabled {
                let routes = ParticipantStatus.routes(participant: me.rawValue, configuration: c, budget: budget, activity: activity)
                let server = try StatusServer(
                    settings: c.status, tlsFiles: nil, metrics: registry, refresh: routes.refresh, logger: logger, routes: routes.add)
                let serverGroup = ServiceGroup(services: [server], logger: logger)
                group.addTask { try await serverGroup.run() }
                statusGroup = serverGroup
            }
            do {
                try await cancelWhenGracefulShutdown {
                    try await reconnectLoop(identityKey: identityKey, trust: trust, data: data, budget: budget, activity: activity)
                }
            } catch is CancellationError {
                logger.info("stopped")
            } catch {
                await statusGroup?.triggerGracefulShutdown()
                throw error
            }
            await statusGroup?.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    private func reconnectLoop(
        identityKey: SigningPrivateKey, trust: FederationTrust, data: LocalData, budget: BudgetGuard, activity: ParticipantActivity
    ) async throws {
        let c = configuration
        var attempt = 0
        var permanentFailures = 0
        while !Task.isCancelled {
            let connectedAt = ContinuousClock.now
            do {
                try await session(identityKey: identityKey, trust: trust, data: data, budget: budget, activity: activity)
                logger.info("session closed by the coordinator")
            } catch is CancellationError {
                return
            } catch let finished as FederationFinished {
                logger.notice("the federation has finished; stopping", metadata: ["reason": "\(finished.reason)"])
                return
            } catch {
                if let reason = Self.permanentReason(error, configuration: c) {
                    permanentFailures += 1
                    logger.error(
                        "connection refused; retrying will not help unless this is fixed",
                        metadata: ["reason": "\(reason)", "attempt": "\(permanentFailures)/\(c.permanentFailureAttempts)"])
                    if permanentFailures >= c.permanentFailureAttempts {
                        throw TallyError(.permissionDenied, "giving up after \(permanentFailures) refused connections: \(reason)")
                    }
                } else {
                    permanentFailures = 0
                    logger.warning("session failed", metadata: ["reason": "\(Self.describe(error))"])
                }
            }
            // A session that lasted a while resets the backoff.
            if ContinuousClock.now - connectedAt > .seconds(30) { attempt = 0 }
            let cap = min(c.reconnectMaxSeconds, c.reconnectInitialSeconds * pow(2, Double(attempt)))
            let delay = Double.random(in: 0...cap)
            attempt += 1
            logger.info("reconnecting", metadata: ["in_seconds": "\(String(format: "%.2f", delay))", "attempt": "\(attempt)"])
            try await Task.sleep(for: .seconds(delay))
        }
    }

    private func session(
        identityKey: SigningPrivateKey, trust: FederationTrust, data: LocalData, budget: BudgetGuard, activity: ParticipantActivity
    ) async throws {
        let c = configuration
        let transport = try c.tls.clientTransport(host: c.coordinatorHost, port: c.coordinatorPort) { $0.http2.maxFrameSize = 1 << 20 }
        try await withGRPCClient(transport: transport) { client in
            let federation = Tally_V1_Federation.Client(wrapping: client)
            let (outbound, continuation) = AsyncStream.makeStream(of: Tally_V1_ParticipantMessage.self)
            defer { continuation.finish() }
            let handler = RoundHandler(
                configuration: c, identityKey: identityKey, trust: trust, data: data, budget: budget, hooks: hooks,
                activity: activity, logger: logger
            ) { message in
                continuation.yield(message)
            }
            let remaining = try budget.remaining()
            if remaining <= 0 {
                logger.warning(
                    "privacy budget spent: this organization will decline every round",
                    metadata: ["epsilon_budget": "\(c.privacyBudget.epsilon)"])
            }
            continuation.yield(
                .with {
                    $0.hello = .with { h in
                        h.protocolVersion = 1
                        h.epsilonRemaining = remaining
                    }
                })
            var options = CallOptions.defaults
            options.maxResponseMessageBytes = c.maxMessageBytes
            options.maxRequestMessageBytes = c.maxMessageBytes
            await activity.session(connected: true)
            defer { Task { await activity.session(connected: false) } }
            try await federation.session(options: options) { writer in
                for await message in outbound { try await writer.write(message) }
            } onResponse: { response in
                for try await message in response.messages {
                    if case .farewell(let farewell) = message.body { throw FederationFinished(reason: farewell.reason) }
                    await handler.handle(message)
                }
            }
        }
    }

    /// The coordinator said it will run no more rounds: the daemon stops instead of reconnecting.
    struct FederationFinished: Error {
        let reason: String
    }

    /// Why `error` will happen again on every attempt, in words a site can act on; nil for
    /// failures that may pass (the coordinator down or restarting, a network fault).
    static func permanentReason(_ error: any Error, configuration c: ParticipantConfiguration) -> String? {
        if let rpc = error as? RPCError, [.permissionDenied, .unauthenticated].contains(rpc.code) {
            return "the coordinator refused this organization (\(rpc.message)); certificate \(c.tls.certificate)"
        }
        let upper = TLSFailure.reasonCodes(in: error).joined(separator: " ")
        if upper.contains("CERTIFICATE_VERIFY_FAILED") {
            return
                "the coordinator's certificate was not accepted: it is not issued by the CA in \(c.tls.certificateAuthority), has expired, or does not name \(c.coordinatorHost) (check tls.certificateAuthority and coordinatorHost)"
        }
        if upper.contains("UNKNOWN_CA") || upper.contains("BAD_CERTIFICATE") || upper.contains("CERTIFICATE_REQUIRED") {
            return
                "the coordinator does not accept this organization's certificate \(c.tls.certificate): it was not issued by the federation's CA"
        }
        if upper.contains("CERTIFICATE_REVOKED") {
            return "the coordinator says this organization's certificate \(c.tls.certificate) is revoked"
        }
        if upper.contains("CERTIFICATE_EXPIRED") {
            return "a certificate has expired (this organization's \(c.tls.certificate) or the coordinator's)"
        }
        return nil
    }

    /// Turns transport errors into one clear line (TLS refusals included).
    static func describe(_ error: any Error) -> String {
        if let rpc = error as? RPCError {
            var text = "[\(rpc.code)] \(rpc.message)"
            if let cause = rpc.cause { text += " — \(cause)" }
            return text
        }
        return "\(error)"
    }
}
