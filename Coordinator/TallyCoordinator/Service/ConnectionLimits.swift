import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS
import Synchronization
import TallyWire

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the coordinator's gRPC server bounds per connection, so that peers that never finish TLS,
/// sit idle, or vanish cannot hold sockets (file handles) forever. docs/operations.md lists the
/// numbers.
public struct ConnectionLimits: Sendable, Hashable {
    /// A connection must finish its TLS handshake this soon after it was accepted or it is closed.
    /// The transport has no such bound of its own; `ConnectionGuard` adds it.
    public var handshakeTimeout: Duration?
    /// A connection with no open stream for this long is sent GOAWAY (transport `maxIdleTime`).
    /// A participant's Session stream stays open between rounds, so it never counts as idle.
    public var maxIdleTime: Duration?
    /// After `maxIdleTime` the transport sends GOAWAY but closes only once the peer acknowledges
    /// it; a connection still without a stream this much later is closed outright.
    public var streamlessGrace: Duration
    /// The server pings a connection that has been silent this long (transport keepalive)…
    public var keepaliveTime: Duration?
    /// …and starts closing it when the ping is not answered within this.
    public var keepaliveTimeout: Duration
    /// Streams one connection may have open at once. A participant opens one.
    public var maxConcurrentStreams: Int?
    /// Connections open at once, whatever their state; over it a new one is closed on accept.
    /// Kept below the process's file-handle limit so the store, registry and ledger always find
    /// a handle.
    public var maxConnections: Int?
    /// Connections open at once from one IP address: a flood from one address leaves the other
    /// slots of `maxConnections` to everyone else (a restarting participant gets in).
    public var maxConnectionsPerAddress: Int? = nil

    public init(
        handshakeTimeout: Duration?, maxIdleTime: Duration?, streamlessGrace: Duration, keepaliveTime: Duration?,
        keepaliveTimeout: Duration, maxConcurrentStreams: Int?, maxConnections: Int?
    ) {
        self.streamlessGrace = streamlessGrace
        self.handshakeTimeout = handshakeTimeout
        self.maxIdleTime = maxIdleTime
        self.keepaliveTime = keepaliveTime
        self.keepaliveTimeout = keepaliveTimeout
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxConnections = maxConnections
    }

    /// The coordinator's bounds. At most 512 connections, and at most half the process's
    /// file-handle limit.
    public static var standard: ConnectionLimits {
        var limits = ConnectionLimits(
            handshakeTimeout: .seconds(10), maxIdleTime: .seconds(5 * 60), streamlessGrace: .seconds(60), keepaliveTime: .seconds(60),
            keepaliveTimeout: .seconds(20), maxConcurrentStreams: 16,
            maxConnections: min(512, max(16, openFileLimit / 2)))
        // A quarter of the slots per address: one address cannot take them all, and a whole
        // federation of processes on one machine (the demo, the 100-participant benchmark) fits.
        limits.maxConnectionsPerAddress = limits.maxConnections.map { max(8, $0 / 4) }
        return limits
    }

    /// Raises the process's soft open-file limit to its hard limit (at most 2^20): each
    /// participant holds a connection, and the common default of 1024 caps the connection limit
    /// at 512. Warns when the limit stays below 1024, with the connection limit it implies.
    public static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        #if canImport(Glibc)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        if getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max {
            let before = limit.rlim_cur
            limit.rlim_cur = min(limit.rlim_max, 1 << 20)
            if setrlimit(resource, &limit) == 0, limit.rlim_cur > before {
                logger.info("raised the open-file limit", metadata: ["from": "\(before)", "to": "\(limit.rlim_cur)"])
            }
        }
        if openFileLimit < 1024 {
            logger.warning(
                "the open-file limit is low: the coordinator accepts at most \(standard.maxConnections ?? 0) connections at once; raise it (ulimit -n, or LimitNOFILE= in the systemd unit)",
                metadata: ["limit": "\(openFileLimit)"])
        }
    }

    /// The process's soft limit on open files.
    static var openFileLimit: Int {
        var limit = rlimit()
        #if canImport(Glibc)
            let result = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
            let result = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        guard result == 0 else { return Int.max }
        // RLIM_INFINITY is the largest rlim_t, so unlimited clamps to Int.max.
        return Int(clamping: limit.rlim_cur)
    }

    /// The transport configuration these limits translate to.
    func transportConfig(
        maxRequestPayloadSize: Int, gate: ConnectionGate, onRefusedHandshake: (@Sendable (_ peer: String, _ reason: String) -> Void)?
    ) -> HTTP2ServerTransport.Posix.Config {
        .defaults { config in
            config.rpc.maxRequestPayloadSize = maxRequestPayloadSize
            config.connection.maxIdleTime = maxIdleTime
            if let keepaliveTime {
                config.connection.keepalive.time = keepaliveTime
                config.connection.keepalive.timeout = keepaliveTimeout
            }
            config.http2.maxConcurrentStreams = maxConcurrentStreams
            let handshakeTimeout = handshakeTimeout.map { TimeAmount($0) }
            let streamlessTimeout = maxIdleTime.map { TimeAmount($0 + streamlessGrace) }
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                channel.eventLoop.submit {
                    let pipeline = channel.pipeline.syncOperations
                    let guardHandler = ConnectionGuard(handshakeTimeout: handshakeTimeout, streamlessTimeout: streamlessTimeout, gate: gate)
                    // Right behind TLS: the gRPC handlers further on close a failed connection
                    // without passing its error along, and consume every byte they read.
                    if let tls = try? pipeline.handler(type: NIOSSLServerHandler.self) {
                        try pipeline.addHandler(guardHandler, position: .after(tls))
                        if let onRefusedHandshake {
                            try pipeline.addHandler(HandshakeFailureReporter(report: onRefusedHandshake), position: .after(tls))
                        }
                    } else {
                        try pipeline.addHandler(guardHandler)
                    }
                }
            }
        }
    }

    /// The coordinator's server transport on `host:port` with these limits.
    public func serverTransport(
        host: String, port: Int, security: HTTP2ServerTransport.Posix.TransportSecurity, maxRequestPayloadSize: Int,
        onRefusedHandshake: (@Sendable (_ peer: String, _ reason: String) -> Void)? = nil
    ) -> HTTP2ServerTransport.Posix {
        // `validate()` has refused names: the server listens on an address.
        let address: GRPCNIOTransportCore.SocketAddress =
            switch HostAddress(host) {
            case .ipv6(let literal): .ipv6(host: literal, port: port)
            case .ipv4(let literal): .ipv4(host: literal, port: port)
            case .name(let name): .ipv4(host: name, port: port)
            }
        return HTTP2ServerTransport.Posix(
            address: address, transportSecurity: security,
            config: transportConfig(
                maxRequestPayloadSize: maxRequestPayloadSize,
                gate: ConnectionGate(limit: maxConnections, perAddress: maxConnectionsPerAddress),
                onRefusedHandshake: onRefusedHandshake))
    }
}

/// Counts the server's open connections against optional limits, in all and per IP address.
final class ConnectionGate: Sendable {
    let limit: Int?
    let perAddress: Int?
    private let open = Mutex((total: 0, byAddress: [String: Int]()))

    init(limit: Int?, perAddress: Int? = nil) {
        self.limit = limit
        self.perAddress = perAddress
    }

    /// Admits one more connection from `address` (its IP, nil if unknown) if both limits allow.
    func admit(from address: String?) -> Bool {
        open.withLock { state in
            if let limit, state.total >= limit { return false }
            if let perAddress, let address, state.byAddress[address, default: 0] >= perAddress { return false }
            state.total += 1
            if let address { state.byAddress[address, default: 0] += 1 }
            return true
        }
    }

    func release(from address: String?) {
        open.withLock { state in
            state.total -= 1
            if let address {
                let left = state.byAddress[address, default: 1] - 1
                state.byAddress[address] = left > 0 ? left : nil
            }
        }
    }
}

/// Added right behind TLS on every accepted connection: closes the connection if the connection
/// limit is reached, if TLS has not completed within the handshake timeout, or if after TLS the
/// peer has sent nothing for the streamless timeout (`maxIdleTime` plus the grace). A live peer
/// always sends within it: the transport pings a silent connection every `keepaliveTime` and a
/// live peer answers. The transport's own idle close waits for the peer to acknowledge a GOAWAY,
/// which a hostile peer never does. (Open streams cannot be counted here: the transport's HTTP/2
/// multiplexer reports them only to its own delegate.)
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    private let handshakeTimeout: TimeAmount?
    private let streamlessTimeout: TimeAmount?
    private let gate: ConnectionGate
    private var admitted = false
    private var address: String?
    private var secured = false
    private var lastRead = NIODeadline.now()
    private var deadline: Scheduled<Void>?

    init(handshakeTimeout: TimeAmount?, streamlessTimeout: TimeAmount?, gate: ConnectionGate) {
        self.handshakeTimeout = handshakeTimeout
        self.streamlessTimeout = streamlessTimeout
        self.gate = gate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        address = context.channel.remoteAddress?.ipAddress
        guard gate.admit(from: address) else {
            context.close(promise: nil)
            return
        }
        admitted = true
        if let handshakeTimeout { schedule(at: .now() + handshakeTimeout, context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if admitted {
            admitted = false
            gate.release(from: address)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            secured = true
            lastRead = .now()
            deadline?.cancel()
            deadline = nil
            if let streamlessTimeout { schedule(at: lastRead + streamlessTimeout, context: context) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// At `time`: before TLS, close; after, close only if nothing was read for the streamless
    /// timeout, else look again when it would have passed since the last read.
    private func schedule(at time: NIODeadline, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(deadline: time) { [self] in
            guard secured, let streamlessTimeout else {
                context.close(promise: nil)
                return
            }
            let due = lastRead + streamlessTimeout
            if NIODeadline.now() >= due { context.close(promise: nil) } else { schedule(at: due, context: context) }
        }
    }
}

/// Reports a TLS failure before the handshake completed (a refused client) once, with the peer's
/// address, so an operator sees who tried and why.
final class HandshakeFailureReporter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let report: @Sendable (_ peer: String, _ reason: String) -> Void

    init(report: @escaping @Sendable (_ peer: String, _ reason: String) -> Void) { self.report = report }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(context.channel.remoteAddress.map { "\($0)" } ?? "unknown", TLSFailure.describeRefusedClient(error))
        context.fireErrorCaught(error)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
