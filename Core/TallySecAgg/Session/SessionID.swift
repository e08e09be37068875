public import TallyCore

/// hash(configuration ‖ every advertised key), computed identically by every party once the key
/// directory is known. It is mixed into every derived key and seed and into every AEAD's
/// associated data: a coordinator that shows different parties different keys splits them into
/// different sessions, whose shares and masks then fail to open or cancel.
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(TallyError) {
        guard bytes.count == 32 else { throw TallyError(.malformedMessage, "a session id is 32 bytes, got \(bytes.count)") }
        self.bytes = bytes
    }

    init(configuration: SecAggConfiguration, directory: KeyDirectory) {
        var w = WireWriter(capacity: 128 + 72 * directory.entries.count)
        w.write(fixed: Array(SecAggLabels.session.utf8))
        w.write(fixed: configuration.digest)
        for entry in directory.entries { // sorted by sender (KeyDirectory's invariant)
            w.write(entry.sender.rawValue)
            w.write(fixed: entry.encryptionKey.rawRepresentation)
            w.write(fixed: entry.maskingKey.rawRepresentation)
        }
        bytes = SHA256Digest.hash(w.bytes)
    }

    public var description: String { Hex.encode(bytes.prefix(6)) }
}
