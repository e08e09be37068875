import GRPCCore
import GRPCNIOTransportHTTP2
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
        ConnectionLimits(
            handshakeTimeout: .seconds(10), maxIdleTime: .seconds(5 * 60), streamlessGrace: .seconds(60), keepaliveTime: .seconds(60),
            keepaliveTimeout: .seconds(20), maxConcurrentStreams: 16,
            maxConnections: min(512, max(16, openFileLimit / 2)))
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
                    try pipeline.addHandler(
                        ConnectionGuard(handshakeTimeout: handshakeTimeout, streamlessTimeout: streamlessTimeout, gate: gate))
                    // Right behind TLS: the gRPC handlers further on close a failed connection
                    // without passing its error along.
                    if let onRefusedHandshake, let tls = try? pipeline.handler(type: NIOSSLServerHandler.self) {
                        try pipeline.addHandler(HandshakeFailureReporter(report: onRefusedHandshake), position: .after(tls))
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
        HTTP2ServerTransport.Posix(
            address: .ipv4(host: host, port: port), transportSecurity: security,
            config: transportConfig(
                maxRequestPayloadSize: maxRequestPayloadSize, gate: ConnectionGate(limit: maxConnections),
                onRefusedHandshake: onRefusedHandshake))
    }
}

/// Counts the server's open connections against an optional limit.
final class ConnectionGate: Sendable {
    let limit: Int?
    private let open = Mutex(0)

    init(limit: Int?) { self.limit = limit }

    func admit() -> Bool {
        open.withLock { count in
            if let limit, count >= limit { return false }
            count += 1
            return true
        }
    }

    func release() { open.withLock { $0 -= 1 } }
}

/// Added at the end of every accepted connection's pipeline: closes the connection if the
/// connection limit is reached, if TLS has not completed within the handshake timeout, or if after
/// TLS it has had no open stream for the streamless timeout (the transport's own idle close waits
/// for the peer to acknowledge a GOAWAY, which a hostile peer never does).
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = Any

    private let handshakeTimeout: TimeAmount?
    private let streamlessTimeout: TimeAmount?
    private let gate: ConnectionGate
    private var admitted = false
    private var openStreams: Set<HTTP2StreamID> = []
    private var deadline: Scheduled<Void>?

    init(handshakeTimeout: TimeAmount?, streamlessTimeout: TimeAmount?, gate: ConnectionGate) {
        self.handshakeTimeout = handshakeTimeout
        self.streamlessTimeout = streamlessTimeout
        self.gate = gate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard gate.admit() else {
            context.close(promise: nil)
            return
        }
        admitted = true
        closeAfter(handshakeTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeAfter(nil, context: context)
        if admitted {
            admitted = false
            gate.release()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let tls as TLSUserEvent:
            if case .handshakeCompleted = tls { closeAfter(openStreams.isEmpty ? streamlessTimeout : nil, context: context) }
        case let created as NIOHTTP2StreamCreatedEvent:
            openStreams.insert(created.streamID)
            closeAfter(nil, context: context)
        case let closed as StreamClosedEvent:
            if openStreams.remove(closed.streamID) != nil, openStreams.isEmpty {
                closeAfter(streamlessTimeout, context: context)
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Replaces the pending deadline, if any, with closing the connection after `delay` (none if nil).
    private func closeAfter(_ delay: TimeAmount?, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        guard let delay else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            context.close(promise: nil)
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
