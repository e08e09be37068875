import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import TallyCoordinator
import TallyLocalFederation
import TallyTestSupport
import TallyWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The coordinator's bounds against connections and streams that would otherwise be held open
/// forever (docs/operations.md, "Connection limits"). Loopback only; every wait is bounded; every
/// process and server started is stopped.
@Suite(.serialized) struct ConnectionLimitsTests {
    /// One certified identity opening session after session: each new stream replaces the older
    /// one, which the coordinator ends (it used to stay open, its resources held, forever).
    @Test func aNewSessionOfOneIdentityEndsTheOlderOnes() async throws {
        let federation = try makeFederation("one-stream", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        _ = try federation.startCoordinator()
        #expect(await waitUntil(30) { readLog(federation, "coordinator").contains("listening") })
        let tls = TLSFiles(directory: federation.pki + "/participant-1")
        let log = StreamLog()
        let streams = 4
        let transport = try tls.clientTransport(host: "127.0.0.1", port: federation.port)
        let client = GRPCClient(transport: transport)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            let service = Tally_V1_Federation.Client(wrapping: client)
            for i in 0..<streams {
                group.addTask {
                    try await service.session { writer in
                        try await writer.write(.with { $0.hello = .with { h in h.protocolVersion = 1 } })
                        try await Task.sleep(for: .seconds(300))
                    } onResponse: { response in
                        do {
                            for try await message in response.messages {
                                if case .welcome = message.body { log.welcomed(i) }
                            }
                            log.ended(i, "closed")
                        } catch {
                            log.ended(i, "\(error)")
                        }
                    }
                }
                // Up to 60 s: with the whole suite in parallel on 2 cores a first welcome has
                // taken over 20 s.
                #expect(await waitUntil(60) { log.isWelcomed(i) }, "stream \(i) should be admitted")
            }
            let older = Set(0..<(streams - 1))
            let allOlderEnded = await waitUntil(15) { older.isSubset(of: log.endedStreams) }
            #expect(allOlderEnded, "older streams of the same identity must be ended; ended: \(log.endedStreams.sorted())")
            #expect(!log.endedStreams.contains(streams - 1), "the newest stream stays open: \(log.reasons)")
            for (i, reason) in log.reasons where older.contains(i) {
                #expect(reason.contains("aborted") && reason.contains("replaced"), "stream \(i): \(reason)")
            }
            client.beginGracefulShutdown()
            group.cancelAll()
        }
    }

    /// Idle TCP connections that never start TLS, and one that stalls mid-handshake, are closed
    /// once the handshake timeout passes.
    @Test func connectionsThatNeverFinishTLSAreClosed() async throws {
        var limits = ConnectionLimits.standard
        limits.handshakeTimeout = .seconds(1)
        try await withServer(limits) { port in
            let sockets = try (0..<5).map { _ in try LoopbackSocket(port: port) }
            // A stalled handshake: the first bytes of a TLS record, then nothing.
            sockets[0].send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            let allClosed = await waitUntil(10) { sockets.allSatisfy { $0.isClosedByPeer() } }
            let open = sockets.indices.filter { !sockets[$0].isClosedByPeer() }
            #expect(allClosed, "connections still open after 10 s: \(open)")
        }
    }

    /// A certified peer that finishes TLS but never opens a stream, nor answers the idle GOAWAY
    /// (here `openssl s_client`, which speaks no HTTP/2), is closed after `maxIdleTime` plus the
    /// streamless grace; the transport alone would wait for its answer forever.
    @Test func aTLSConnectionThatNeverOpensAStreamIsClosed() async throws {
        var limits = ConnectionLimits.standard
        limits.maxIdleTime = .seconds(1)
        limits.streamlessGrace = .seconds(1)
        try await withServer(limits) { port in
            let files = TLSFiles(directory: TestPKI.shared.directory + "/participant-1")
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            client.arguments = [
                "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-alpn", "h2",
                "-cert", files.certificate, "-key", files.privateKey, "-CAfile", files.certificateAuthority,
            ]
            let input = Pipe() // kept open: s_client ends only when the server closes
            client.standardInput = input
            client.standardOutput = FileHandle.nullDevice
            client.standardError = FileHandle.nullDevice
            let start = ContinuousClock.now
            try client.run()
            let closed = await waitUntil(15) { !client.isRunning }
            let elapsed = ContinuousClock.now - start
            if !closed {
                kill(client.processIdentifier, SIGKILL) // s_client may outlive SIGTERM
                #expect(await waitUntil(5) { !client.isRunning })
            }
            #expect(closed, "the coordinator should close a TLS connection that never opens a stream")
            // Not refused at once (TLS succeeded), and not by the 10 s handshake timeout either.
            #expect(elapsed > .milliseconds(1500) && elapsed < .seconds(8), "closed after \(elapsed)")
        }
    }

    /// A live session is never cut by the idle guard: a participant connected for longer than
    /// `maxIdleTime` plus the grace (here 12 s; 6 min by default) keeps its stream. The guard once
    /// counted open streams from HTTP/2 events that the transport's multiplexer never sends, and
    /// cut every session 6 minutes after it connected. The contrast, a peer that sends nothing
    /// after TLS, is ``aTLSConnectionThatNeverOpensAStreamIsClosed()``.
    @Test func aLiveSessionOutlastsTheIdleGuard() async throws {
        var limits = ConnectionLimits.standard
        // A 12 s guard: short enough for a test, long enough that a loaded machine (the whole
        // suite in parallel on 2 cores) sends its first bytes after TLS well within it.
        limits.maxIdleTime = .seconds(8)
        limits.streamlessGrace = .seconds(4)
        limits.keepaliveTime = .seconds(1)
        let tls = TLSFiles(directory: TestPKI.shared.directory + "/coordinator")
        let transport = limits.serverTransport(
            host: "127.0.0.1", port: 0, security: tls.serverSecurity(), maxRequestPayloadSize: 1 << 20)
        let server = GRPCServer(transport: transport, services: [HoldingService()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer {
                server.beginGracefulShutdown()
                group.cancelAll()
            }
            let port = try #require(try await transport.listeningAddress.ipv4?.port)
            let files = TLSFiles(directory: TestPKI.shared.directory + "/participant-1")
            let client = GRPCClient(transport: try files.clientTransport(host: "127.0.0.1", port: port))
            let log = StreamLog()
            group.addTask { try await client.runConnections() }
            group.addTask {
                do {
                    try await Tally_V1_Federation.Client(wrapping: client).session { writer in
                        try await writer.write(.with { $0.hello = .with { h in h.protocolVersion = 1 } })
                        try await Task.sleep(for: .seconds(300))
                    } onResponse: { response in
                        for try await message in response.messages where message.welcome.participantID == 1 { log.welcomed(0) }
                        log.ended(0, "closed")
                    }
                } catch {
                    log.ended(0, "\(error)")
                }
            }
            #expect(await waitUntil(60) { log.isWelcomed(0) }, "the session should be admitted")
            // Twice the guard's 12 s, with the stream open and the client silent but for its
            // answers to the coordinator's pings.
            try await Task.sleep(for: .seconds(25))
            #expect(log.endedStreams.isEmpty, "the live session was cut: \(log.reasons)")
            client.beginGracefulShutdown()
        }
    }

    /// At start the coordinator raises a low soft open-file limit to the hard one, and warns when
    /// even that is low (it caps the connections it can hold).
    @Test func theOpenFileLimitIsRaisedOrReported() async throws {
        let federation = try makeFederation("file-limit", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        func serve(_ ulimit: String, log: String) async throws -> String {
            let process = try Subprocess(
                "/bin/bash",
                [
                    "-c", "ulimit \(ulimit) && exec \"$0\" serve --config \"$1\"", TestEnvironment.executables + "/tally-coordinator",
                    federation.coordinatorConfig,
                ],
                output: .append(toFile: log))
            defer { process.stop() }
            let text = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            #expect(await waitUntil(30) { text().contains("listening") }, "\(text().suffix(1500))")
            return text()
        }
        let soft = try await serve("-Sn 200", log: federation.options.directory + "/soft.log")
        #expect(soft.contains("raised the open-file limit") && soft.contains("from=200"), "\(soft.suffix(1500))")
        let hard = try await serve("-n 200", log: federation.options.directory + "/hard.log")
        #expect(hard.contains("the open-file limit is low") && hard.contains("at most 100 connections"), "\(hard.suffix(1500))")
    }

    /// One address cannot take every slot: over its own limit its new connections are closed
    /// at once, while a connection from another address is still admitted. (The cap used to be
    /// global only: 600 reopened connections from one address kept a restarting participant out.)
    @Test func oneAddressCannotTakeEverySlot() async throws {
        var limits = ConnectionLimits.standard
        limits.handshakeTimeout = .seconds(30)
        limits.maxConnections = 10
        limits.maxConnectionsPerAddress = 2
        try await withServer(limits) { port in
            var flood: [LoopbackSocket] = []
            for _ in 0..<5 {
                flood.append(try LoopbackSocket(port: port, source: "127.0.0.1"))
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(await waitUntil(10) { flood[2...].allSatisfy { $0.isClosedByPeer() } }, "over its address's limit")
            #expect(!flood[0].isClosedByPeer() && !flood[1].isClosedByPeer())
            let other = try LoopbackSocket(port: port, source: "127.0.0.2")
            try await Task.sleep(for: .milliseconds(500))
            #expect(!other.isClosedByPeer(), "another address is admitted")
        }
    }

    /// Over the connection limit, a new connection is closed at once; those within it stay.
    @Test func connectionsOverTheLimitAreClosedOnAccept() async throws {
        var limits = ConnectionLimits.standard
        limits.handshakeTimeout = .seconds(30)
        limits.maxConnections = 2
        try await withServer(limits) { port in
            var sockets: [LoopbackSocket] = []
            for _ in 0..<4 {
                sockets.append(try LoopbackSocket(port: port))
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(await waitUntil(10) { sockets[2].isClosedByPeer() && sockets[3].isClosedByPeer() })
            #expect(!sockets[0].isClosedByPeer() && !sockets[1].isClosedByPeer())
            // Closing one frees its place.
            sockets[0].close()
            try await Task.sleep(for: .milliseconds(300))
            let again = try LoopbackSocket(port: port)
            try await Task.sleep(for: .milliseconds(500))
            #expect(!again.isClosedByPeer(), "a connection within the limit is admitted again")
        }
    }

    /// Runs a coordinator transport (mutual TLS with the test PKI, no services) on a loopback port.
    private func withServer(_ limits: ConnectionLimits, _ body: (Int) async throws -> Void) async throws {
        let tls = TLSFiles(directory: TestPKI.shared.directory + "/coordinator")
        let transport = limits.serverTransport(
            host: "127.0.0.1", port: 0, security: tls.serverSecurity(), maxRequestPayloadSize: 1 << 20)
        try await TallyFederationTests.withServer(transport, body)
    }
}

/// What happened to each of several Session streams.
private final class StreamLog: Sendable {
    private let state = Mutex<(welcomed: Set<Int>, ended: [Int: String])>(([], [:]))
    func welcomed(_ i: Int) { state.withLock { _ = $0.welcomed.insert(i) } }
    func ended(_ i: Int, _ reason: String) { state.withLock { $0.ended[i] = reason } }
    func isWelcomed(_ i: Int) -> Bool { state.withLock { $0.welcomed.contains(i) } }
    var endedStreams: Set<Int> { state.withLock { Set($0.ended.keys) } }
    var reasons: [Int: String] { state.withLock { $0.ended } }
}

/// A plain TCP connection to 127.0.0.1 that sends nothing unless told, closed on deinit.
private final class LoopbackSocket {
    private var fd: Int32

    /// `source`: the local address to connect from (any of 127.0.0.0/8 is loopback on Linux).
    init(port: Int, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw POSIXError(.EADDRNOTAVAIL)
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the server has closed (or reset) the connection; never blocks.
    func isClosedByPeer() -> Bool {
        guard fd >= 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { return true }
            if n > 0 { continue } // bytes from the server (e.g. a TLS alert): keep reading
            return errno != EAGAIN && errno != EWOULDBLOCK
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}

/// Welcomes a Session and holds it open until the client ends it (the idle-guard test's server).
private struct HoldingService: Tally_V1_Federation.SimpleServiceProtocol {
    func session(
        request: RPCAsyncSequence<Tally_V1_ParticipantMessage, any Error>, response: RPCWriter<Tally_V1_CoordinatorMessage>,
        context: ServerContext
    ) async throws {
        for try await message in request where message.hello.protocolVersion == 1 {
            try await response.write(.with { $0.welcome = .with { w in w.participantID = 1 } })
        }
    }

    func listModels(request: Tally_V1_ListModelsRequest, context: ServerContext) async throws -> Tally_V1_ModelList {
        throw RPCError(code: .unimplemented, message: "not in this test")
    }

    func pullModel(
        request: Tally_V1_PullModelRequest, response: RPCWriter<Tally_V1_PulledModelChunk>, context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "not in this test")
    }
}
