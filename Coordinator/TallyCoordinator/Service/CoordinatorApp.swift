import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyLedger
import TallyModel
import TallySecAgg
import TallyStatus
import TallyWire

/// The coordinator process: the gRPC server, the round engine and the metrics writer under one
/// `ServiceGroup`, which stops them gracefully on SIGTERM/SIGINT. When the engine has released
/// the configured number of rounds the whole group shuts down.
public struct CoordinatorApp {
    public let configuration: CoordinatorConfiguration
    public let logger: Logger
    public let hooks: RoundHooks
    /// How long connections may stall, idle or stay silent, and how many may be open.
    public let limits: ConnectionLimits

    public init(
        configuration: CoordinatorConfiguration, logger: Logger, hooks: RoundHooks = .none, limits: ConnectionLimits = .standard
    ) {
        self.configuration = configuration
        self.logger = logger
        self.hooks = hooks
        self.limits = limits
    }

    /// Bootstraps Prometheus metrics once per process.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The privacy ledger's file inside the data directory (`tally-audit verify|report` read it).
    public static let ledgerFileName = "privacy-ledger.sqlite"

    public func run(metrics: PrometheusCollectorRegistry) async throws {
        let c = configuration
        try FileManager.default.createDirectory(atPath: c.dataDirectory, withIntermediateDirectories: true)
        let store = try CoordinatorStore(path: c.dataDirectory + "/coordinator.sqlite")
        let registry = try ModelRegistry(directory: c.dataDirectory + "/registry")
        let keyPEM = try FederationTrust.readPEM(c.tls.privateKey, what: "coordinator private key")
        let certificatePEM = try FederationTrust.readPEM(c.tls.certificate, what: "coordinator certificate")
        let signingKey = try SigningPrivateKey(pem: keyPEM)
        let trust = try FederationTrust(caFile: c.tls.certificateAuthority, crlFile: c.revocationList)
        let (identity, _) = try await trust.verify(pem: certificatePEM)
        guard identity == .coordinator else {
            throw TallyError(.permissionDenied, "the configured certificate is a \(identity) certificate, not a coordinator certificate")
        }
        let evaluation = try c.evaluationSet()
        let ledger = try PrivacyLedger(
            path: c.dataDirectory + "/" + Self.ledgerFileName, role: .coordinator,
            signingKey: signingKey, certificatePEM: certificatePEM)
        let sessions = ParticipantSessions()
        let engine = try RoundEngine(
            configuration: c, store: store, registry: registry, sessions: sessions, signingKey: signingKey,
            certificatePEM: certificatePEM, evaluation: evaluation, ledger: ledger, hooks: hooks, logger: logger)
        let transport = limits.serverTransport(
            host: c.host, port: c.port, security: c.tls.serverSecurity(), maxRequestPayloadSize: c.maxMessageBytes
        ) { [logger] peer, reason in
            logger.warning("TLS handshake refused", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        }
        let service = FederationService(
            configuration: c, sessions: sessions, engine: engine, store: store, registry: registry, logger: logger)
        let server = GRPCServer(transport: transport, services: [service])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: GRPCServerService(server: server)),
            .init(service: engine, successTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: MetricsFileWriter(registry: metrics, path: c.dataDirectory + "/metrics.prom")),
        ]
        if c.status.enabled {
            let routes = CoordinatorStatusRoutes(configuration: c, engine: engine, sessions: sessions, store: store, logger: logger)
            services.append(
                .init(
                    service: try StatusServer(
                        settings: c.status, tlsFiles: c.tls, revocationList: c.revocationList, metrics: metrics,
                        refresh: { [logger] in
                            do { try await routes.snapshot().recordGauges() } catch {
                                logger.warning("status: cannot read the coordinator's state", metadata: ["reason": "\(error)"])
                            }
                        }, logger: logger, routes: routes.add(to:))))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        let log = logger
        let dataDirectory = c.dataDirectory
        Task { [transport] in
            if let address = try? await transport.listeningAddress {
                log.info("listening", metadata: ["address": "\(address)", "data": "\(dataDirectory)"])
            }
        }
        try await group.run()
    }
}
