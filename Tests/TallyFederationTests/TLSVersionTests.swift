import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TallyCore
import TallyLocalFederation
import TallyTestSupport
import TallyWire
import Testing

/// TLS 1.3 only (docs/protocol.md). The attack: a peer that offers only TLS 1.2 with a CBC suite,
/// as `openssl s_client -tls1_2` does. Positive control: the transport's own TLS settings (what
/// `serverSecurity()` used to return) accept it. Loopback only; every process is bounded by a
/// timeout and every server shut down.
@Suite(.serialized) struct TLSVersionTests {
    static let pki = TestPKI.shared.directory
    static let participant = pki + "/participant-1"

    /// The gRPC transport's defaults with the same files: what the coordinator ran before.
    static func transportDefaults(_ tls: TLSFiles) -> HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: tls.certificate, format: .pem)], privateKey: .file(path: tls.privateKey, format: .pem)) {
            config in
            config.trustRoots = .certificates([.file(path: tls.certificateAuthority, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// `openssl s_client` with the participant's certificate against 127.0.0.1:`port`; its exit
    /// status (0: handshake completed) and output.
    static func connect(port: Int, _ version: [String]) async throws -> Subprocess.Completion {
        let arguments =
            ["s_client", "-connect", "127.0.0.1:\(port)", "-brief", "-CAfile", pki + "/ca/ca.crt"]
            + ["-cert", participant + "/cert.pem", "-key", participant + "/key.pem"] + version
        let command = (["openssl"] + arguments).map { "'\($0)'" }.joined(separator: " ") + " < /dev/null"
        return try await Subprocess.run("/bin/sh", ["-c", command], timeout: .seconds(60))
    }

    static func withServer(_ security: HTTP2ServerTransport.Posix.TransportSecurity, _ body: (Int) async throws -> Void) async throws {
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: security)
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

    static let tls12CBC = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]

    @Test func theTransportDefaultsAcceptTLS12WithCBC() async throws {
        let tls = TLSFiles(directory: Self.pki + "/coordinator")
        try await Self.withServer(Self.transportDefaults(tls)) { port in
            let old = try await Self.connect(port: port, Self.tls12CBC)
            #expect(old.status == 0, "\(old.output)")
            #expect(old.output.contains("Protocol version: TLSv1.2") && old.output.contains("ECDHE-ECDSA-AES128-SHA"), "\(old.output)")
        }
    }

    @Test func theCoordinatorRefusesTLS12AndAcceptsTLS13() async throws {
        let tls = TLSFiles(directory: Self.pki + "/coordinator")
        try await Self.withServer(tls.serverSecurity()) { port in
            for version in [Self.tls12CBC, ["-tls1_2"]] {
                let refused = try await Self.connect(port: port, version)
                #expect(refused.status != 0, "\(version): \(refused.output)")
                #expect(!refused.output.contains("CONNECTION ESTABLISHED"), "\(version): \(refused.output)")
            }
            let accepted = try await Self.connect(port: port, ["-tls1_3"])
            #expect(accepted.status == 0, "\(accepted.output)")
            #expect(accepted.output.contains("Protocol version: TLSv1.3"), "\(accepted.output)")
            // A client that offers both ends up on 1.3.
            let either = try await Self.connect(port: port, [])
            #expect(either.status == 0 && either.output.contains("Protocol version: TLSv1.3"), "\(either.output)")
        }
    }
}
