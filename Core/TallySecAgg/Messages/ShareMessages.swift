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
/// masking private key, each encrypted for the neighbour that will hold it, and a commitment to
/// the seed (its masking key is committed to by its advertised public key).
public struct EncryptedShares: Sendable, Hashable {
    public let roundID: UInt64
    public let session: SessionID
    public let sender: ParticipantID
    /// One per neighbour, addressed to the recipient.
    public let shares: [AddressedCiphertext]
    /// H("…/seed-commitment" ‖ session ‖ sender ‖ b), 32 bytes.
    public let seedCommitment: [UInt8]

    public init(roundID: UInt64, session: SessionID, sender: ParticipantID, shares: [AddressedCiphertext], seedCommitment: [UInt8]) {
        self.roundID = roundID
        self.session = session
        self.sender = sender
        self.shares = shares
        self.seedCommitment = seedCommitment
    }

    public func serialized() -> [UInt8] {
        ShareListCoding.serialize(.encryptedShares, round: roundID, session: session, party: sender, shares: shares) + seedCommitment
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        let trailer: [UInt8]
        (roundID, session, sender, shares, trailer) = try ShareListCoding.decode(
            .encryptedShares, bytes, context: "encrypted shares",
            limits: limits, trailerBytes: 32)
        seedCommitment = trailer
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
        ShareListCoding.serialize(.shareDelivery, round: roundID, session: session, party: recipient, shares: shares)
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        (roundID, session, recipient, shares, _) = try ShareListCoding.decode(
            .shareDelivery, bytes, context: "share delivery", limits: limits)
    }
}

/// The one layout both share messages use: header, session, the party they concern (sender or
/// recipient), then the addressed ciphertexts, each length-checked before it is read.
enum ShareListCoding {
    static func serialize(
        _ kind: MessageKind, round: UInt64, session: SessionID, party: ParticipantID,
        shares: [AddressedCiphertext]
    ) -> [UInt8] {
        var w = WireWriter(capacity: 64 + (8 + AddressedCiphertext.ciphertextBytes) * shares.count)
        w.writeHeader(kind, round: round)
        w.write(fixed: session.bytes)
        w.write(party.rawValue)
        w.write(UInt32(shares.count))
        for s in shares { w.write(s.peer.rawValue); w.write(bytes: s.ciphertext) }
        return w.bytes
    }

    /// `trailerBytes`: a fixed-size field after the list (the seed commitment of encrypted shares).
    static func decode(_ kind: MessageKind, _ bytes: [UInt8], context: String, limits: WireLimits, trailerBytes: Int = 0) throws(TallyError)
        -> (UInt64, SessionID, ParticipantID, [AddressedCiphertext], [UInt8])
    {
        var r = WireReader(bytes, context: context)
        let round = try r.readHeader(kind)
        let session = try r.readSession()
        let party = try r.readParticipant()
        let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 8)
        var shares: [AddressedCiphertext] = []
        shares.reserveCapacity(count)
        for _ in 0..<count {
            let peer = try r.readParticipant()
            shares.append(AddressedCiphertext(peer: peer, ciphertext: try r.readBytes(maxLength: AddressedCiphertext.ciphertextBytes)))
        }
        let trailer = try r.readFixed(trailerBytes)
        try r.finish()
        return (round, session, party, shares, trailer)
    }
}
