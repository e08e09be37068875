public import TallyCore

/// The stable binary encoding of protocol messages: big-endian fixed-width integers and
/// u32-length-prefixed byte strings. Every length read is checked against the bytes that remain
/// and a per-field limit *before* anything is allocated.
///
/// Each message maps one-to-one onto a protobuf message of the networked layer (fields in the
/// same order), so the transport can carry either form.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func write(_ value: UInt8) { bytes.append(value) }
    public mutating func write(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func write(_ value: UInt64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func write(bytes value: some Collection<UInt8>) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
    public mutating func write(fixed value: [UInt8]) { bytes.append(contentsOf: value) }
    /// A length-prefixed packed vector, copied straight from its limbs.
    public mutating func write(vector: PackedVector) {
        write(UInt32(vector.layout.byteCount))
        vector.serialize(appendingTo: &bytes)
    }
}

public struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0
    /// What is being decoded, for error messages.
    private let context: String

    public init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes
        self.context = context
    }

    public var remaining: Int { bytes.count - offset }

    private func malformed(_ what: String) -> TallyError {
        TallyError(.malformedMessage, "\(context): \(what) at byte \(offset) of \(bytes.count)")
    }

    public mutating func readUInt8() throws(TallyError) -> UInt8 {
        guard remaining >= 1 else { throw malformed("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt32() throws(TallyError) -> UInt32 {
        guard remaining >= 4 else { throw malformed("truncated") }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return value
    }

    public mutating func readUInt64() throws(TallyError) -> UInt64 {
        guard remaining >= 8 else { throw malformed("truncated") }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return value
    }

    /// A length-prefixed byte string of at most `maxLength` bytes.
    public mutating func readBytes(maxLength: Int) throws(TallyError) -> [UInt8] {
        let length = Int(try readUInt32())
        guard length <= maxLength else { throw malformed("field of \(length) bytes exceeds its limit of \(maxLength)") }
        guard length <= remaining else { throw malformed("field of \(length) bytes but only \(remaining) remain") }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    public mutating func readFixed(_ count: Int) throws(TallyError) -> [UInt8] {
        guard count <= remaining else { throw malformed("truncated") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A count of items that follow, bounded by `max` and by the bytes left (each item takes
    /// at least `minimumItemBytes`), so a forged count cannot drive an allocation.
    public mutating func readCount(max: Int, minimumItemBytes: Int) throws(TallyError) -> Int {
        let count = Int(try readUInt32())
        guard count <= max else { throw malformed("count \(count) exceeds its limit of \(max)") }
        guard count * minimumItemBytes <= remaining else { throw malformed("count \(count) does not fit in the \(remaining) bytes left") }
        return count
    }

    public func finish() throws(TallyError) {
        guard remaining == 0 else { throw malformed("\(remaining) trailing bytes") }
    }
}
