import TallyCore

/// Splits large payloads into pieces below the transport's message size and puts them back
/// together, checking every count and size against limits before buffering anything.
public enum MessageChunking {
    /// Bytes per chunk: well under gRPC's default 4 MiB message limit.
    public static let defaultChunkBytes = 1 << 20

    /// Cuts `bytes` into chunks of at most `chunkBytes` (an empty payload is one empty chunk).
    public static func split(_ bytes: [UInt8], chunkBytes: Int = defaultChunkBytes) -> [ArraySlice<UInt8>] {
        guard !bytes.isEmpty else { return [bytes[...]] }
        return stride(from: 0, to: bytes.count, by: chunkBytes).map { bytes[$0..<min($0 + chunkBytes, bytes.count)] }
    }
}

/// Reassembles one chunked payload. Chunks must arrive in order (gRPC streams are ordered);
/// anything else is a protocol error.
public struct ChunkAssembler: Sendable {
    public let maxTotalBytes: Int
    public let maxChunks: Int
    private var buffer: [UInt8] = []
    private var expectedCount: Int?
    private var nextIndex = 0
    private var key: (UInt64, UInt32)?

    public init(maxTotalBytes: Int, maxChunks: Int = 4096) {
        self.maxTotalBytes = maxTotalBytes
        self.maxChunks = maxChunks
    }

    /// Adds a chunk; returns the whole payload once the last chunk is in.
    public mutating func add(round: UInt64, kind: UInt32, index: UInt32, count: UInt32, data: [UInt8]) throws(TallyError) -> [UInt8]? {
        guard count >= 1, Int(count) <= maxChunks else {
            throw TallyError(.malformedMessage, "a payload in \(count) chunks exceeds the limit of \(maxChunks)")
        }
        if let key, key != (round, kind) || expectedCount != Int(count) {
            throw TallyError(.malformedMessage, "chunk of another payload (round \(round), kind \(kind)) interleaved with one in progress")
        }
        guard Int(index) == nextIndex else {
            throw TallyError(.malformedMessage, "chunk \(index) arrived, expected \(nextIndex)")
        }
        guard buffer.count + data.count <= maxTotalBytes else {
            throw TallyError(.sizeLimitExceeded, "payload exceeds the limit of \(maxTotalBytes) bytes")
        }
        key = (round, kind)
        expectedCount = Int(count)
        buffer.append(contentsOf: data)
        nextIndex += 1
        guard nextIndex == Int(count) else { return nil }
        defer { self = ChunkAssembler(maxTotalBytes: maxTotalBytes, maxChunks: maxChunks) }
        return buffer
    }
}
