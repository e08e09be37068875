import TallyCore
import TallySecAgg

extension Harness {
    /// The secure-aggregation message decoders (`init(serialized:)` of all nine messages), with
    /// a decode–encode–decode check on everything accepted.
    public static let secAggMessages = Harness(
        name: "fuzz-secagg-messages", run: SecAggFuzz.run, seeds: SecAggFuzz.seeds)
}

enum SecAggFuzz {
    /// Layouts a masked input is decoded against: narrow, unaligned, full-width, one slot.
    static let layouts: [SlotLayout] = [(20, 7), (64, 3), (1, 1), (33, 100)].map { try! SlotLayout(slotWidth: $0.0, count: $0.1) }

    /// Whatever decodes must encode to bytes that decode to the same message.
    static func roundTrip<M: Equatable>(_ message: M?, _ serialize: (M) -> [UInt8], _ decode: ([UInt8]) throws(TallyError) -> M) {
        guard let message else { return }
        let again: M
        do { again = try decode(serialize(message)) } catch {
            fatalError("a decoded message does not decode after re-encoding: \(error)")
        }
        precondition(again == message, "a decoded message changes when re-encoded")
    }

    @Sendable static func run(_ bytes: [UInt8]) {
        roundTrip(try? KeyAdvertisement(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in
            try KeyAdvertisement(serialized: b)
        }
        roundTrip(try? KeyDirectory(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in try KeyDirectory(serialized: b) }
        roundTrip(try? EncryptedShares(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in try EncryptedShares(serialized: b)
        }
        roundTrip(try? ShareDelivery(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in try ShareDelivery(serialized: b) }
        roundTrip(try? UnmaskRequest(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in try UnmaskRequest(serialized: b) }
        roundTrip(try? UnmaskResponse(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in try UnmaskResponse(serialized: b) }
        roundTrip(try? ConsistencyRequest(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in
            try ConsistencyRequest(serialized: b)
        }
        roundTrip(try? ConsistencySignature(serialized: bytes), { $0.serialized() }) { b throws(TallyError) in
            try ConsistencySignature(serialized: b)
        }
        if bytes.first == MessageKind.maskedInput.rawValue {
            for layout in layouts {
                let input = try? MaskedInput(serialized: bytes, layout: layout)
                roundTrip(input, { $0.serialized() }) { b throws(TallyError) in try MaskedInput(serialized: b, layout: layout) }
                if let input { _ = (input.vector.unpacked(), input.vector.signedSlots()) }
            }
        }
        // A packed vector on its own, in a layout taken from the input's first bytes.
        if bytes.count >= 3,
            let layout = try? SlotLayout(slotWidth: Int(bytes[0] % 64) + 1, count: Int(bytes[1]) << 4 | Int(bytes[2] >> 4) + 1),
            let vector = try? PackedVector(layout: layout, serialized: bytes.dropFirst(3))
        {
            precondition(vector.serialized() == Array(bytes.dropFirst(3)), "a packed vector changes when re-encoded")
            _ = vector.unpacked()
        }
    }

    @Sendable static func seeds() -> [(name: String, bytes: [UInt8])] {
        let session = try! SessionID(bytes: (0..<32).map { UInt8($0) })
        let key = { try! KeyAgreementPrivateKey().publicKey }
        let advertisement = KeyAdvertisement(
            roundID: 7, sender: ParticipantID(3), encryptionKey: key(), maskingKey: key(), signature: [UInt8](repeating: 0xA5, count: 64))
        let other = KeyAdvertisement(
            roundID: 7, sender: ParticipantID(5), encryptionKey: key(), maskingKey: key(), signature: [UInt8](repeating: 0x5A, count: 64))
        let share = AddressedCiphertext(
            peer: ParticipantID(5), ciphertext: [UInt8](repeating: 0x11, count: AddressedCiphertext.ciphertextBytes))
        let signature = ParticipantSignature(participant: ParticipantID(5), signature: [UInt8](repeating: 0x22, count: 64))
        let vector = try! PackedVector(packing: (0..<7).map { UInt64($0) * 1000 }, slotWidth: 20)
        return [
            ("key-advertisement", advertisement.serialized()),
            ("key-directory", KeyDirectory(roundID: 7, entries: [advertisement, other]).serialized()),
            (
                "encrypted-shares",
                EncryptedShares(
                    roundID: 7, session: session, sender: ParticipantID(3), shares: [share],
                    seedCommitment: [UInt8](repeating: 9, count: 32)
                )
                .serialized()
            ),
            ("share-delivery", ShareDelivery(roundID: 7, session: session, recipient: ParticipantID(3), shares: [share]).serialized()),
            (
                "masked-input",
                MaskedInput(roundID: 7, session: session, sender: ParticipantID(3), vector: vector, maskedWithSignature: [1, 2, 3])
                    .serialized()
            ),
            (
                "consistency-request",
                ConsistencyRequest(
                    roundID: 7, session: session, recipient: ParticipantID(3), survivors: [ParticipantID(3), ParticipantID(5)],
                    dropped: [ParticipantID(9)], maskedWith: [signature]
                ).serialized()
            ),
            (
                "consistency-signature",
                ConsistencySignature(roundID: 7, session: session, sender: ParticipantID(3), signature: [UInt8](repeating: 0x33, count: 64))
                    .serialized()
            ),
            ("unmask-request", UnmaskRequest(roundID: 7, session: session, signatures: [signature]).serialized()),
            (
                "unmask-response",
                UnmaskResponse(roundID: 7, session: session, sender: ParticipantID(3), selfMaskSeedShares: [], maskingKeyShares: [])
                    .serialized()
            ),
            ("packed-vector", [19, 0, 0x60] + vector.serialized()),
        ]
    }
}
