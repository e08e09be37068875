import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyWire
import X509

/// The request context of the status server: Hummingbird's core storage plus the connection, so
/// an operator action can read the client certificate the TLS handshake verified.
public struct StatusRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// The operator the request's certificate names (set by ``OperatorOnly``); nil over plain
    /// HTTP, where operator actions are refused.
    public internal(set) var operatorName: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The certificate the client presented in the mutual-TLS handshake (nil over plain HTTP).
    func peerCertificate() async -> Certificate? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get(),
            let der = try? certificate.toDERBytes()
        else { return nil }
        return try? Certificate(derEncoded: der)
    }
}

/// One daemon's HTTP status server (Hummingbird) as a `Service` of its `ServiceGroup`: routes
/// come from the daemon; this adds `/metrics`, TLS, operator authentication and the log line with
/// the address.
public struct StatusServer: Service {
    public let settings: StatusSettings
    let responder: RouterResponder<StatusRequestContext>
    let tls: TLSConfiguration?
    let logger: Logger

    /// `tlsFiles` is the daemon's certificate and key and the federation CA: used when
    /// `settings.operatorTLS`, where every client must present an operator certificate that the
    /// revocation list at `revocationList` (read again for every request) does not name.
    /// `metrics` is served at `/metrics`, after `refresh` brings its gauges up to date.
    public init(
        settings: StatusSettings, tlsFiles: TLSFiles?, revocationList: String? = nil, metrics: PrometheusCollectorRegistry,
        refresh: @escaping @Sendable () async -> Void = {}, logger: Logger,
        routes: (Router<StatusRequestContext>) -> Void
    ) throws(TallyError) {
        self.settings = settings
        self.logger = logger
        if settings.operatorTLS {
            guard let tlsFiles else { throw TallyError(.invalidArgument, "operatorTLS needs the daemon's certificate and key") }
            self.tls = try Self.serverTLS(tlsFiles)
        } else {
            self.tls = nil
        }
        let router = Router(context: StatusRequestContext.self)
        if settings.operatorTLS {
            // Checked now, so a bad CA or list stops the start-up instead of every request.
            _ = try FederationTrust(caFile: tlsFiles!.certificateAuthority, crlFile: revocationList)
            router.add(middleware: OperatorOnly(caFile: tlsFiles!.certificateAuthority, crlFile: revocationList))
        }
        router.get("metrics") { _, _ -> Response in
            await refresh()
            var buffer: [UInt8] = []
            metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        routes(router)
        self.responder = router.buildResponder()
    }

    /// TLS 1.3 only, the daemon's certificate, and a client certificate required and chained to
    /// the federation CA (its role is checked per request by ``OperatorOnly``).
    static func serverTLS(_ files: TLSFiles) throws(TallyError) -> TLSConfiguration {
        do {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKey, format: .pem)))
            tls.minimumTLSVersion = .tlsv13
            tls.trustRoots = .file(files.certificateAuthority)
            tls.certificateVerification = .noHostnameVerification
            return tls
        } catch {
            throw TallyError(
                .invalidArgument, "status server TLS: cannot read \(files.certificate) or its key: \(error)", cause: error)
        }
    }

    public func run() async throws {
        let (log, settings) = (logger, settings)
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                let scheme = settings.operatorTLS ? "https" : "http"
                let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
                log.notice("status page", metadata: ["url": "\(scheme)://\(host):\(port)/"])
            }, logger: log)
        try await app.runService()
    }
}

/// Every request over mutual TLS must come from an operator certificate the federation CA
/// issued and its revocation list does not name; anything else is 403, logged with the peer.
struct OperatorOnly: RouterMiddleware {
    let caFile: String
    let crlFile: String?

    func handle(
        _ request: Request, context: StatusRequestContext, next: (Request, StatusRequestContext) async throws -> Response
    ) async throws -> Response {
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        guard let certificate = await context.peerCertificate() else {
            context.logger.warning("status request refused: no client certificate", metadata: ["peer": "\(peer)"])
            throw HTTPError(.forbidden, message: "an operator certificate is required")
        }
        let identity: PeerRole
        do {
            // The CA and the revocation list as they are now: a revoked operator is refused at once.
            identity = try await FederationTrust(caFile: caFile, crlFile: crlFile).verify(certificate)
        } catch {
            context.logger.warning("status request refused", metadata: ["peer": "\(peer)", "reason": "\(error.message)"])
            throw HTTPError(.forbidden, message: error.message)
        }
        guard case .operator(let name) = identity else {
            context.logger.warning(
                "status request refused: not an operator certificate", metadata: ["peer": "\(peer)", "identity": "\(identity)"])
            throw HTTPError(
                .forbidden, message: "\(identity) is not an operator; operator actions need a tally://operator/NAME certificate")
        }
        var context = context
        context.operatorName = name
        return try await next(request, context)
    }
}

extension StatusRequestContext {
    /// The operator performing an action, or 403 saying how to become one.
    public func requireOperator() throws -> String {
        guard let operatorName else {
            throw HTTPError(
                .forbidden,
                message:
                    "operator actions need mutual TLS with an operator certificate: set status.operatorTLS (docs/operations.md, Live status)"
            )
        }
        return operatorName
    }
}
