public import TallyCore

/// Stage 1, participant → coordinator → everyone: a participant's two fresh X25519 public keys
/// for this round, signed with its identity key over the round configuration.
public struct KeyAdvertisement: Sendable, Hashable {
    public let roundID: UInt64
    public let sender: ParticipantID
    /// For encrypting the secret shares sent to this participant.
    public let encryptionKey: KeyAgreementPublicKey
    /// For agreeing pairwise mask seeds with this participant.
    public let maskingKey: KeyAgreementPublicKey
    /// Identity-key signature over ``signedBytes(configurationDigest:)``.
    public let signature: [UInt8]

    public init(
        roundID: UInt64, sender: ParticipantID, encryptionKey: KeyAgreementPublicKey,
        maskingKey: KeyAgreementPublicKey, signature: [UInt8]
    ) {
        self.roundID = roundID
        self.sender = sender
        self.encryptionKey = encryptionKey
        self.maskingKey = maskingKey
        self.signature = signature
    }

    /// What the identity key signs: the configuration digest (so the round, cohort and plan),
    /// the sender and both keys. A replay into another round fails verification.
    static func signedBytes(
        configurationDigest: [UInt8], sender: ParticipantID,
        encryptionKey: KeyAgreementPublicKey, maskingKey: KeyAgreementPublicKey
    ) -> [UInt8] {
        var w = WireWriter(capacity: 160)
        w.write(fixed: Array(SecAggLabels.advertisement.utf8))
        w.write(fixed: configurationDigest)
        w.write(sender.rawValue)
        w.write(fixed: encryptionKey.rawRepresentation)
        w.write(fixed: maskingKey.rawRepresentation)
        return w.bytes
    }

    /// Throws `secagg-bad-key-signature` unless `identityKey` signed these keys for this configuration.
    func verify(configuration: SecAggConfiguration, identityKey: SigningPublicKey) throws(TallyError) {
        let message = Self.signedBytes(
            configurationDigest: configuration.digest, sender: sender,
            encryptionKey: encryptionKey, maskingKey: maskingKey)
        do {
            try identityKey.verify(signature, for: message)
        } catch {
            throw TallyError(.badKeySignature, "key advertisement of \(sender) for round \(roundID) is not signed by its identity key")
        }
    }

    func encode(into w: inout WireWriter) {
        w.write(sender.rawValue)
        w.write(fixed: encryptionKey.rawRepresentation)
        w.write(fixed: maskingKey.rawRepresentation)
        w.write(bytes: signature)
    }

    static func decode(roundID: UInt64, from r: inout WireReader, limits: WireLimits) throws(TallyError) -> Self {
        let sender = try r.readParticipant()
        let encryptionKey = try KeyAgreementPublicKey(rawRepresentation: r.readFixed(32))
        let maskingKey = try KeyAgreementPublicKey(rawRepresentation: r.readFixed(32))
        let signature = try r.readBytes(maxLength: limits.maxSignatureBytes)
        return Self(roundID: roundID, sender: sender, encryptionKey: encryptionKey, maskingKey: maskingKey, signature: signature)
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 160)
        w.writeHeader(.keyAdvertisement, round: roundID)
        encode(into: &w)
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "key advertisement")
        let round = try r.readHeader(.keyAdvertisement)
        self = try Self.decode(roundID: round, from: &r, limits: limits)
        try r.finish()
    }
}

/// Stage 1 → 2, coordinator → participants: every advertisement the coordinator accepted
/// (the set U1), sorted by sender.
public struct KeyDirectory: Sendable, Hashable {
    public let roundID: UInt64
    public let entries: [KeyAdvertisement]

    public init(roundID: UInt64, entries: [KeyAdvertisement]) {
        self.roundID = roundID
        self.entries = entries.sorted { $0.sender < $1.sender }
    }

    public func serialized() -> [UInt8] {
        var w = WireWriter(capacity: 16 + 180 * entries.count)
        w.writeHeader(.keyDirectory, round: roundID)
        w.write(UInt32(entries.count))
        for entry in entries { entry.encode(into: &w) }
        return w.bytes
    }

    public init(serialized bytes: [UInt8], limits: WireLimits = WireLimits()) throws(TallyError) {
        var r = WireReader(bytes, context: "key directory")
        let round = try r.readHeader(.keyDirectory)
        let count = try r.readCount(max: limits.maxCohort, minimumItemBytes: 72)
        var entries: [KeyAdvertisement] = []
        entries.reserveCapacity(count)
        for _ in 0..<count { entries.append(try KeyAdvertisement.decode(roundID: round, from: &r, limits: limits)) }
        try r.finish()
        self.init(roundID: round, entries: entries)
    }
}
