import Testing
@testable import TallyCore

/// Naive model of the packed ring: slot-by-slot addition where a slot that reaches 2^w carries
/// one into the next slot and the top slot's carry is dropped — i.e. integer addition modulo
/// 2^(w·d) written out per coordinate.
private func naiveAdd(_ a: [UInt64], _ b: [UInt64], width: Int) -> [UInt64] {
    let modulus = UInt128(1) << UInt128(width)
    var carry: UInt128 = 0
    return zip(a, b).map { x, y in
        let s = UInt128(x) + UInt128(y) + carry
        carry = s / modulus
        return UInt64(s % modulus)
    }
}

private func naiveSubtract(_ a: [UInt64], _ b: [UInt64], width: Int) -> [UInt64] {
    let modulus = Int128(1) << Int128(width)
    var borrow: Int128 = 0
    return zip(a, b).map { x, y in
        var s = Int128(x) - Int128(y) - borrow
        borrow = 0
        if s < 0 { s += modulus; borrow = 1 }
        return UInt64(s)
    }
}

private func randomValues(_ count: Int, bits: Int, _ rng: SeededRandom) -> [UInt64] {
    let mask: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) - 1
    return (0..<count).map { _ in rng.nextWord() & mask }
}

@Suite struct PackedVectorTests {
    @Test(arguments: [1, 7, 19, 20, 31, 32, 33, 63, 64])
    func packUnpackRoundTrip(width: Int) throws {
        let rng = SeededRandom(testSeed: UInt64(width))
        for count in [1, 2, 3, 63, 64, 65, 1000] {
            let values = randomValues(count, bits: width, rng)
            let packed = try PackedVector(packing: values, slotWidth: width)
            #expect(packed.unpacked() == values)
            #expect(packed.limbs.count == (width * count + 63) / 64)
            for i in [0, count / 2, count - 1] { #expect(packed[slot: i] == values[i]) }
            let wire = try PackedVector(layout: packed.layout, serialized: packed.serialized())
            #expect(wire == packed)
        }
    }

    @Test(arguments: [5, 19, 20, 33, 64])
    func addAndSubtractMatchNaivePerCoordinateModel(width: Int) throws {
        let rng = SeededRandom(testSeed: 100 + UInt64(width))
        for count in [1, 3, 64, 333] {
            let a = randomValues(count, bits: width, rng)
            let b = randomValues(count, bits: width, rng)
            var sum = try PackedVector(packing: a, slotWidth: width)
            try sum.add(PackedVector(packing: b, slotWidth: width))
            #expect(sum.unpacked() == naiveAdd(a, b, width: width))
            var difference = try PackedVector(packing: a, slotWidth: width)
            try difference.subtract(PackedVector(packing: b, slotWidth: width))
            #expect(difference.unpacked() == naiveSubtract(a, b, width: width))
        }
    }

    /// n vectors of b-bit values in slots of w = b + ⌈log2 n⌉ bits sum to the exact
    /// per-coordinate sums: no slot spills into its neighbour.
    @Test(arguments: [(17, 2), (17, 4), (16, 8), (15, 10), (12, 100), (9, 1000)])
    func headroomGivesExactSums(valueBits: Int, summands: Int) throws {
        let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: summands)
        #expect(width == valueBits + SlotLayout.ceilLog2(summands))
        let rng = SeededRandom(testSeed: UInt64(valueBits * 10_000 + summands))
        let count = 257
        var expected = [UInt64](repeating: 0, count: count)
        var total = PackedVector(zeros: try SlotLayout(slotWidth: width, count: count))
        for s in 0..<summands {
            // Mix in all-max vectors so the worst case is always hit.
            let values = s % 3 == 0 ? [UInt64](repeating: (1 << UInt64(valueBits)) - 1, count: count)
                                    : randomValues(count, bits: valueBits, rng)
            for i in 0..<count { expected[i] += values[i] }
            try total.add(PackedVector(packing: values, slotWidth: width))
        }
        #expect(total.unpacked() == expected)
    }

    /// With one bit too few the same sums overflow: the headroom is necessary, not decorative.
    @Test func tooLittleHeadroomOverflows() throws {
        let valueBits = 19, summands = 4
        let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: summands) - 1
        let maxed = [UInt64](repeating: (1 << 19) - 1, count: 16)
        var total = PackedVector(zeros: try SlotLayout(slotWidth: width, count: 16))
        for _ in 0..<summands { try total.add(PackedVector(packing: maxed, slotWidth: width)) }
        #expect(total.unpacked() != [UInt64](repeating: 4 * ((1 << 19) - 1), count: 16))
    }

    @Test func rejectsBadInput() throws {
        #expect(throws: TallyError.self) { try PackedVector(packing: [1 << 19], slotWidth: 19) }
        #expect(throws: TallyError.self) { try SlotLayout(slotWidth: 0, count: 4) }
        #expect(throws: TallyError.self) { try SlotLayout(slotWidth: 65, count: 4) }
        let layout = try SlotLayout(slotWidth: 19, count: 10)  // 190 bits: 3 limbs, 62 bits used on top
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, limbs: [0, 0]) }
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, limbs: [0, 0, 1 << 63]) }
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, serialized: [UInt8](repeating: 0, count: 23)) }
        var a = PackedVector(zeros: layout)
        #expect(throws: TallyError.self) { try a.add(PackedVector(zeros: try SlotLayout(slotWidth: 20, count: 10))) }
    }
}
