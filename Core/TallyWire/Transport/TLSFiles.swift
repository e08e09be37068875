import GRPCNIOTransportHTTP2
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

    /// Client side: TLS 1.3 only (``TLS13SigningKey``: the client certificate is never proven in
    /// an older handshake); present our certificate; verify the coordinator's chain to the CA
    /// *and* its name. Coordinator certificates carry the loopback and configured DNS names;
    /// participant certificates carry none, so one cannot stand in for the coordinator.
    public func clientSecurity() -> HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .customPrivateKey(TLS13SigningKey(path: privateKey)))
        {
            config in
            config.trustRoots = .certificates([.file(path: certificateAuthority, format: .pem)])
            config.serverCertificateVerification = .fullVerification
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
