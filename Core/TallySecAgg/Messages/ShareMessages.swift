public import TallyCore

/// One AEAD ciphertext from one participant to another.
public struct AddressedCiphertext: Sendable, Hashable {
    /// The other party: the recipient in ``EncryptedShares``, the sender in ``ShareDelivery``.
    public let peer: ParticipantID
    public let ciphertext: [UInt8]

    public init(peer: ParticipantID, ciphertext: [UInt8]) {
        self.peer = peer
        self.ciphertext = ciphertext
    }

    /// Plaintext: sender (4) ‖ recipient (4) ‖ self-mask seed share (33) ‖ mask key share (33).
    public static let plaintextBytes = 4 + 4 + 33 + 33
    public static let ciphertextBytes = plaintextBytes + AES256GCM.overhead
}

/// Stage 2, participant → coordinator: Shamir shares of this participant's self-mask seed and
/// masking private key, each encrypted for the neighbour that will hold it.
public struct EncryptedShares: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    /// One per neighbour, addressed to the recipient.
    public let shares: [AddressedCiphertext]

    public init(roundID: UInt64, session: SessionID, sender: ParticipantID, shares: [AddressedCiphertext]) {
        self.roundID = roundID
        self.session = session
        self.sender = sender
        self.shares = shares
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + (8 + AddressedCiphertext.ciphertextBytes) * shares.count)
        w.writeHeader(.encryptedShares, round: roundID)
        w.write(fixed: session.bytes)
        w.write(sender.rawValue)
        w.write(UInt32(shares.count))
        for s in shares { w.write(s.peer.rawValue); w.write(bytes: s.ciphertext) }
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "encrypted shares")
        roundID = try r.readHeader(.encryptedShares)
        session = try r.readSession()
        sender = try r.readParticipant()
        shares = try Self.readCiphertexts(&r, limits: limits)
        try r.finish()
    }

    static func readCiphertexts(_ r: inout WireReader, limits: WireLimits) throws(TallyError) -> [AddressedCiphertext] {
        let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 8)
        var out: [AddressedCiphertext] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let peer = try r.readParticipant()
            out.append(AddressedCiphertext(peer: peer, ciphertext: try r.readBytes(maxLength: AddressedCiphertext.ciphertextBytes)))
        }
        return out
    }
}

/// Stage 2 → 3, coordinator → one participant: the ciphertexts addressed to it by the
/// neighbours that completed stage 2. Its senders are the neighbours it must mask with.
public struct ShareDelivery: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let recipient: ParticipantID
    /// One per sending neighbour, tagged with the sender.
    public let shares: [AddressedCiphertext]

    public init(roundID: UInt64, session: SessionID, recipient: ParticipantID, shares: [AddressedCiphertext]) {
        self.roundID = roundID
        self.session = session
        self.recipient = recipient
        self.shares = shares
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 64 + (8 + AddressedCiphertext.ciphertextBytes) * shares.count)
        w.writeHeader(.shareDelivery, round: roundID)
        w.write(fixed: session.bytes)
        w.write(recipient.rawValue)
        w.write(UInt32(shares.count))
        for s in shares { w.write(s.peer.rawValue); w.write(bytes: s.ciphertext) }
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "share delivery")
        roundID = try r.readHeader(.shareDelivery)
        session = try r.readSession()
        recipient = try r.readParticipant()
        shares = try EncryptedShares.readCiphertexts(&r, limits: limits)
        try r.finish()
    }
}
