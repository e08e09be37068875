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

/// Uniform in (−2^bits, 2^bits) (any Int64 for bits ≥ 63).
private func signedValues(_ count: Int, magnitudeBits bits: Int, _ rng: SeededRandom) -> [Int64] {
    (0..<count).map { _ in
        let word = Int64(bitPattern: rng.nextWord())
        return bits >= 63 ? word : word >> Int64(63 - bits)
    }
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
            let values =
                s % 3 == 0
                ? [UInt64](repeating: (1 << UInt64(valueBits)) - 1, count: count)
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

    /// Signed values in (−2^w, 2^w), modelled independently with the unsigned packing and ring
    /// subtraction: V = pack(max(v, 0)) − pack(max(−v, 0)) mod 2^(w·d).
    @Test(arguments: [2, 7, 19, 20, 33, 62, 63, 64])
    func signedPackingIsTheRingElementOfTheValues(width: Int) throws {
        let rng = SeededRandom(testSeed: 500 + UInt64(width))
        for count in [1, 2, 3, 64, 65, 257] {
            let bits = min(width, 62), smallest = -((Int64(1) << bits) - 1)
            let values = signedValues(count, magnitudeBits: bits, rng).map { max($0, smallest) }
            let packed = try PackedVector(packingSigned: values, slotWidth: width)
            var model = try PackedVector(packing: values.map { $0 > 0 ? UInt64($0) : 0 }, slotWidth: width)
            try model.subtract(PackedVector(packing: values.map { $0 < 0 ? UInt64(-$0) : 0 }, slotWidth: width))
            #expect(packed == model)
        }
    }

    /// Values that fit a balanced slot, [−2^(w−1), 2^(w−1)), decode to themselves, extremes included.
    @Test(arguments: [1, 2, 8, 19, 31, 62, 63, 64])
    func signedRoundTrip(width: Int) throws {
        let rng = SeededRandom(testSeed: 600 + UInt64(width))
        let low = width == 64 ? Int64.min : -(Int64(1) << (width - 1)), high = width == 64 ? Int64.max : (Int64(1) << (width - 1)) - 1
        for count in [1, 5, 100, 1000] {
            var values = signedValues(count, magnitudeBits: width - 1, rng)
            values[0] = low
            values[count - 1] = high
            if count > 2 { values[1] = -1; values[2] = high }
            let packed = try PackedVector(packingSigned: values, slotWidth: width)
            #expect(packed.signedSlots() == values)
        }
    }

    /// The sum of several packings is the packing of the per-coordinate sums — bit for bit, even
    /// when individual values do not fit a slot — and decodes to those sums while they fit.
    @Test(arguments: [(20, 2), (20, 10), (21, 100), (45, 7), (62, 5)])
    func sumsOfSignedPackingsDecodeToExactSums(width: Int, summands: Int) throws {
        let rng = SeededRandom(testSeed: UInt64(width * 1000 + summands))
        let count = 333
        let magnitude = width - 1 - SlotLayout.ceilLog2(summands) // every partial sum fits
        var total = PackedVector(zeros: try SlotLayout(slotWidth: width, count: count))
        var sums = [Int64](repeating: 0, count: count)
        for s in 0..<summands {
            // Mix in the extremes so carries and borrows run through every slot.
            let values =
                s == 0
                ? [Int64](repeating: -(Int64(1) << magnitude), count: count)
                : signedValues(count, magnitudeBits: magnitude, rng)
            for i in 0..<count { sums[i] += values[i] }
            try total.add(PackedVector(packingSigned: values, slotWidth: width))
        }
        #expect(total.signedSlots() == sums)
        #expect(try total == PackedVector(packingSigned: sums, slotWidth: width))
        // Linearity beyond the slot: two wide vectors, wrapping individually, sum to the packing of the sum.
        let wide = (0..<2).map { _ in signedValues(count, magnitudeBits: min(63, width + 5), rng) }
        var pair = try PackedVector(packingSigned: wide[0], slotWidth: width)
        try pair.add(PackedVector(packingSigned: wide[1], slotWidth: width))
        let wideSum = zip(wide[0], wide[1]).map { $0 &+ $1 }
        if zip(wide[0], wide[1]).allSatisfy({ !$0.addingReportingOverflow($1).overflow }) {
            #expect(try pair == PackedVector(packingSigned: wideSum, slotWidth: width))
        }
    }

    /// A value beyond its slot carries (or borrows) into the next one, and out of the top slot is
    /// dropped: the packing is of the integer Σ v_j·2^(w·j) mod 2^(w·d), not of values reduced per slot.
    @Test func valuesBeyondASlotCarry() throws {
        let w = 8
        #expect(try PackedVector(packingSigned: [256 + 5, 0, 0], slotWidth: w) == PackedVector(packingSigned: [5, 1, 0], slotWidth: w))
        #expect(try PackedVector(packingSigned: [-1, 0, 0], slotWidth: w).signedSlots() == [-1, 0, 0])
        #expect(try PackedVector(packingSigned: [-1, 0, 0], slotWidth: w).unpacked() == [255, 255, 255])
        #expect(try PackedVector(packingSigned: [300, -1, 0], slotWidth: w).signedSlots() == [44, 0, 0]) // 300 − 256 = 44
        #expect(try PackedVector(packingSigned: [0, 0, 128], slotWidth: w).signedSlots() == [0, 0, -128]) // top carry dropped
        #expect(
            try PackedVector(packingSigned: [-(1 << 20), 0, 0, 0], slotWidth: w)
                == PackedVector(packingSigned: [0, 0, -16, 0], slotWidth: w))
        // Reducing each slot on its own would lose the carry: 255 + 1 in slot 0 must reach slot 1.
        var sum = try PackedVector(packingSigned: [127, 0], slotWidth: w)
        try sum.add(PackedVector(packingSigned: [1, 0], slotWidth: w))
        #expect(sum.signedSlots() == [-128, 1]) // 128 = −128 + 1·256: the value is right, the slot too small
        #expect(try PackedVector(packingSigned: [Int64.max, Int64.min, -1], slotWidth: 64).signedSlots() == [Int64.max, Int64.min, -1])
    }

    @Test func rejectsBadInput() throws {
        #expect(throws: TallyError.self) { try PackedVector(packing: [1 << 19], slotWidth: 19) }
        #expect(throws: TallyError.self) { try SlotLayout(slotWidth: 0, count: 4) }
        #expect(throws: TallyError.self) { try SlotLayout(slotWidth: 65, count: 4) }
        let layout = try SlotLayout(slotWidth: 19, count: 10) // 190 bits: 3 limbs, 62 bits used on top
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, limbs: [0, 0]) }
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, limbs: [0, 0, 1 << 63]) }
        #expect(throws: TallyError.self) { try PackedVector(layout: layout, serialized: [UInt8](repeating: 0, count: 23)) }
        var a = PackedVector(zeros: layout)
        #expect(throws: TallyError.self) { try a.add(PackedVector(zeros: try SlotLayout(slotWidth: 20, count: 10))) }
    }
}
