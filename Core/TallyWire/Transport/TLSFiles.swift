import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import TallyCore

/// The PEM files of one party of the federation: its certificate, its private key (mode 600,
/// never logged) and the federation CA that every peer must chain to.
public struct TLSFiles: Sendable, Hashable, Codable {
    public var certificate: String
    public var privateKey: String
    public var certificateAuthority: String

    public init(certificate: String, privateKey: String, certificateAuthority: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateAuthority = certificateAuthority
    }

    /// The files in one folder as `certs/issue-certificate.sh` lays them out.
    public init(directory: String) {
        self.init(
            certificate: directory + "/cert.pem", privateKey: directory + "/key.pem",
            certificateAuthority: directory + "/ca.crt")
    }

    /// Checks the files exist and are readable, so a typo is reported before any connection.
    public func validate() throws(TallyError) {
        for (what, path) in [("certificate", certificate), ("private key", privateKey), ("CA certificate", certificateAuthority)] {
            guard FileSystem.isReadable(path) else {
                throw TallyError(.invalidArgument, "\(what) file \(path) does not exist or is not readable")
            }
        }
        do { _ = try FederationTrust(caFile: certificateAuthority) } catch {
            throw TallyError(error.code, "CA certificate file \(certificateAuthority): \(error.message)", cause: error.cause)
        }
    }

    /// Server side: TLS 1.3 only (``TLS13SigningKey``) with a client certificate required and
    /// verified against the CA. The participant's identity is then read from that certificate per
    /// RPC.
    public func serverSecurity() -> HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .customPrivateKey(TLS13SigningKey(path: privateKey)))
        {
            config in
            config.trustRoots = .certificates([.file(path: certificateAuthority, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Client side: a gRPC transport to the coordinator at `host`:`port` that speaks TLS 1.3
    /// only, presents our certificate and verifies the coordinator's chain to the CA *and* its
    /// name. Coordinator certificates carry the loopback and configured DNS names; participant
    /// certificates carry none, so one cannot stand in for the coordinator.
    ///
    /// Why not the transport's own TLS setting: it fixes TLS 1.2 as the minimum, and a server
    /// that asks for no client certificate would then complete a TLS 1.2 handshake the client
    /// never signs in (``TLS13SigningKey`` covers only handshakes it signs). The transport's
    /// documented hook for custom security (`.customSecure` with `onCreateTCPConnection`) puts
    /// our own TLS handler, limited to 1.3 both ways, first in every connection's pipeline.
    public func clientTransport(
        host: String, port: Int, configure: (inout HTTP2ClientTransport.Posix.Config) -> Void = { _ in }
    ) throws(TallyError) -> HTTP2ClientTransport.Posix {
        let address = HostAddress(host)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.certificateVerification = .fullVerification
        tls.trustRoots = .file(certificateAuthority)
        tls.applicationProtocols = ["grpc-exp", "h2"]
        tls.privateKey = .privateKey(NIOSSLPrivateKey(customPrivateKey: TLS13SigningKey(path: privateKey)))
        let context: NIOSSLContext
        do {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw TallyError(
                .invalidArgument, "TLS client files (certificate \(certificate), CA \(certificateAuthority)) cannot be used: \(error)",
                cause: error)
        }
        // SNI and the name check use the configured name; an IP literal is checked against the
        // certificate's IP addresses from the connected address (SNI cannot carry one).
        let serverHostname: String? = if case .name(let name) = address { name } else { nil }
        var config = HTTP2ClientTransport.Posix.Config.defaults
        configure(&config)
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            }
        }
        do {
            return try HTTP2ClientTransport.Posix(target: address.target(port: port), transportSecurity: .customSecure, config: config)
        } catch {
            throw TallyError(.invalidArgument, "cannot set up a connection to \(host):\(port): \(error)", cause: error)
        }
    }
}

/// A configured host: an IPv4 literal, an IPv6 literal (brackets, as in URLs, removed) or a name.
public enum HostAddress: Sendable, Hashable {
    case ipv4(String)
    case ipv6(String)
    case name(String)

    public init(_ host: String) {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            self = .ipv4(bare)
        } else if inet_pton(AF_INET6, bare, &v6) == 1 {
            self = .ipv6(bare)
        } else {
            self = .name(host)
        }
    }

    /// How gRPC resolves it: the literal itself, or the name through DNS.
    public func target(port: Int) -> any ResolvableTarget {
        switch self {
        case .ipv4(let address): .ipv4(address: address, port: port)
        case .ipv6(let address): .ipv6(address: address, port: port)
        case .name(let name): .dns(host: name, port: port)
        }
    }
}

/// Minimal file checks without Foundation's FileManager in every caller.
enum FileSystem {
    static func isReadable(_ path: String) -> Bool {
        access(path, R_OK) == 0
    }
}

#if canImport(Glibc)
    import Glibc
#endif
