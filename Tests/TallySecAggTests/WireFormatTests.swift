import TallyCore
import Testing

@testable import TallySecAgg

@Suite struct WireFormatTests {
    @Test func messagesRoundTripAndRejectCorruption() throws {
        let (config, inputs) = try configuration(n: 3, dimension: 50)
        var round = try ManualRound(config: config, inputs: inputs)
        let directory = try round.advertise()
        #expect(try KeyDirectory(serialized: directory.serialized()) == directory)
        #expect(try KeyAdvertisement(serialized: directory.entries[0].serialized()) == directory.entries[0])
        let deliveries = try round.share(directory)
        for d in deliveries.values { #expect(try ShareDelivery(serialized: d.serialized()) == d) }
        let masked = try round.mask(deliveries)
        for m in masked.values {
            let bytes = m.serialized()
            #expect(try MaskedInput(serialized: bytes, layout: config.layout) == m)
            // Upload size: the packed vector (⌈w·d/8⌉ bytes), a fixed header and the masked-with signature.
            #expect(bytes.count == config.layout.byteCount + 1 + 8 + 32 + 4 + 4 + 4 + m.maskedWithSignature.count)
            // A vector for another layout, a truncated one, and trailing junk are all refused.
            #expect(
                code { _ = try MaskedInput(serialized: bytes, layout: try SlotLayout(slotWidth: config.layout.slotWidth, count: 51)) }
                    == .sizeMismatch)
            #expect(code { _ = try MaskedInput(serialized: Array(bytes.dropLast()), layout: config.layout) } == .malformedMessage)
            #expect(code { _ = try MaskedInput(serialized: bytes + [0], layout: config.layout) } == .malformedMessage)
        }
        let requests = try round.coordinator.closeMaskedInput()
        for r in requests { #expect(try ConsistencyRequest(serialized: r.serialized()) == r) }
        for r in requests {
            let signature = try round.participants[r.recipient]!.checkConsistency(r)
            #expect(try ConsistencySignature(serialized: signature.serialized()) == signature)
            try round.coordinator.receive(signature)
        }
        let request = try round.coordinator.closeConsistencyCheck()
        #expect(try UnmaskRequest(serialized: request.serialized()) == request)
        let response = try round.participants[config.cohort[0]]!.unmask(request)
        #expect(try UnmaskResponse(serialized: response.serialized()) == response)
        // Wrong kind byte.
        #expect(code { _ = try UnmaskRequest(serialized: response.serialized()) } == .malformedMessage)
        #expect(code { _ = try ConsistencyRequest(serialized: request.serialized()) } == .malformedMessage)
    }

    /// A forged count or length cannot drive an allocation: it is checked against the bytes
    /// actually present and against the limits first.
    @Test func forgedCountsAndLengthsAreRefused() throws {
        var w = WireWriter()
        w.write(MessageKind.keyDirectory.rawValue)
        w.write(UInt64(1))
        w.write(UInt32.max) // claims 4 billion entries
        #expect(code { _ = try KeyDirectory(serialized: w.bytes) } == .malformedMessage)

        var v = WireWriter()
        v.write(MessageKind.maskedInput.rawValue)
        v.write(UInt64(1))
        v.write(fixed: [UInt8](repeating: 0, count: 32))
        v.write(UInt32(1))
        v.write(UInt32(1 << 30)) // a 1 GiB vector, with nothing behind it
        let layout = try SlotLayout(slotWidth: 20, count: 10)
        #expect(code { _ = try MaskedInput(serialized: v.bytes, layout: layout) } == .malformedMessage)
        #expect(code { _ = try UnmaskResponse(serialized: []) } == .malformedMessage)
    }
}
