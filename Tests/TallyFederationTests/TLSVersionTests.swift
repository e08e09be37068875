import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TallyCore
import TallyLocalFederation
import TallyTestSupport
import TallyWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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
        try await TallyFederationTests.withServer(
            HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: security), body)
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

    /// A free loopback port (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `openssl s_server` with the coordinator's certificate, limited by `version`, requiring a
    /// client certificate, for one connection (`-www`: it reads no standard input); a gRPC client
    /// with `security` connects to it. Returns what the server printed, which ends with its
    /// session counts ("1 server accepts that finished" when the handshake completed).
    static func serverLog(
        version: String, requestClientCertificate: Bool = true, client makeTransport: (Int) throws -> HTTP2ClientTransport.Posix
    ) async throws -> String {
        let directory = try TestDirectories.make("tls-client")
        let log = directory + "/s_server.log"
        let port = try freePort()
        let coordinator = pki + "/coordinator"
        let server = try Subprocess(
            "/usr/bin/env",
            [
                "openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-naccept", "1", version, "-www",
                "-cert", coordinator + "/cert.pem", "-key", coordinator + "/key.pem", "-CAfile", pki + "/ca/ca.crt",
            ] + (requestClientCertificate ? ["-Verify", "1"] : []), output: .append(toFile: log))
        defer { server.stop(signal: SIGKILL) }
        let read = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        // Its output is buffered until it exits: wait for its socket instead (LISTEN in /proc/net/tcp).
        let listening = String(format: "0100007F:%04X 00000000:0000 0A", port)
        try #require(
            await waitUntil(30) { ((try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? "").contains(listening) },
            "s_server did not start: \(read())")
        let transport = try makeTransport(port)
        let client = GRPCClient(transport: transport)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.runConnections() }
            group.addTask {
                let service = Tally_V1_Federation.Client(wrapping: client)
                try? await service.session { writer in
                    try await writer.write(.with { $0.hello = .with { h in h.protocolVersion = 1 } })
                } onResponse: { response in
                    for try await _ in response.messages {}
                }
            }
            // A failed handshake ends the one connection and s_server exits; a completed one
            // stays open until the client goes away.
            _ = await server.exited(within: .seconds(15))
            client.beginGracefulShutdown()
            group.cancelAll()
        }
        // Its session counts are printed as it exits.
        _ = await server.exited(within: .seconds(30))
        return read()
    }

    /// The client side: a participant's transport (`clientTransport`) completes no handshake with
    /// a server limited to TLS 1.2 — neither when the server asks for a client certificate nor
    /// when it asks for none, so the participant has nothing to sign — and does with TLS 1.3
    /// either way. Positive control: the gRPC transport's own TLS setting with the same files
    /// completes both TLS 1.2 handshakes.
    @Test func theParticipantRefusesATLS12Server() async throws {
        let tls = TLSFiles(directory: Self.participant)
        let defaults = { (port: Int) in
            try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "127.0.0.1", port: port),
                transportSecurity: .mTLS(
                    certificateChain: [.file(path: tls.certificate, format: .pem)], privateKey: .file(path: tls.privateKey, format: .pem)
                ) { config in
                    config.trustRoots = .certificates([.file(path: tls.certificateAuthority, format: .pem)])
                    config.serverCertificateVerification = .fullVerification
                })
        }
        let participant = { (port: Int) in try tls.clientTransport(host: "127.0.0.1", port: port) }
        for requestClientCertificate in [true, false] {
            let control = try await Self.serverLog(version: "-tls1_2", requestClientCertificate: requestClientCertificate, client: defaults)
            #expect(control.contains("1 server accepts that finished"), "client certificate \(requestClientCertificate): \(control)")
            let refused = try await Self.serverLog(
                version: "-tls1_2", requestClientCertificate: requestClientCertificate, client: participant)
            #expect(refused.contains("0 server accepts that finished"), "client certificate \(requestClientCertificate): \(refused)")
            let accepted = try await Self.serverLog(
                version: "-tls1_3", requestClientCertificate: requestClientCertificate, client: participant)
            #expect(accepted.contains("1 server accepts that finished"), "client certificate \(requestClientCertificate): \(accepted)")
        }
    }
}
