internal import CGMP

/// A vector of d unsigned w-bit coordinates packed into one integer modulo 2^(w·d), stored as
/// little-endian 64-bit GMP limbs.
///
/// Addition and subtraction are whole-integer operations (`mpn_add_n` / `mpn_sub_n`) whose carries
/// cross slot boundaries and wrap modulo 2^(w·d). That is exactly what masking needs: a mask is a
/// uniformly random element of that ring, so a masked vector reveals nothing, and once all masks
/// cancel the integer is the packed per-slot sum — provided no slot overflowed, which the caller
/// guarantees by choosing w = b + ⌈log2 n⌉ (see ``SlotLayout/headroomWidth(valueBits:summands:)``).
public struct PackedVector: Sendable, Equatable {
    public let layout: SlotLayout
    /// The limbs, least significant first. Bits above `layout.bitCount` are always zero.
    public private(set) var limbs: [UInt64]

    /// The zero vector.
    public init(zeros layout: SlotLayout) {
        self.layout = layout
        self.limbs = [UInt64](repeating: 0, count: layout.limbCount)
    }

    /// Wraps existing limbs (e.g. read from the wire); stray bits above w·d are an error, not
    /// silently dropped, so a malformed input cannot masquerade as a valid ring element.
    public init(layout: SlotLayout, limbs: [UInt64]) throws(TallyError) {
        guard limbs.count == layout.limbCount else {
            throw TallyError(
                .sizeMismatch, "expected \(layout.limbCount) limbs for \(layout.count)×\(layout.slotWidth) bits, got \(limbs.count)")
        }
        guard limbs[limbs.count - 1] & ~layout.topLimbMask == 0 else {
            throw TallyError(.valueOutOfRange, "packed vector has bits set above bit \(layout.bitCount)")
        }
        self.layout = layout
        self.limbs = limbs
    }

    /// Packs `values` (each < 2^w) into slots.
    public init(packing values: some Collection<UInt64>, slotWidth: Int) throws(TallyError) {
        let layout = try SlotLayout(slotWidth: slotWidth, count: values.count)
        self.init(zeros: layout)
        // Array(_:) of an array is free; then a concrete loop (this initializer is generic and
        // not specialised across modules).
        let contiguous = Array(values)
        let packed: Result<Void, TallyError> = contiguous.withUnsafeBufferPointer { buffer in
            Result { () throws(TallyError) in try self.pack(buffer) }
        }
        try packed.get()
    }

    /// Packs signed values as the ring element V = Σ_j v_j·2^(w·j) mod 2^(w·d): slot j gets
    /// (v_j + carry) mod 2^w and the rest, (v_j + carry) >> w (arithmetic), carries or borrows into
    /// slot j + 1; the carry out of the top slot is dropped. No value is reduced on its own, so the
    /// packing is linear: adding packings of participants' vectors gives the packing of their
    /// per-coordinate sums, whatever the individual values (a per-slot wrap would reveal who
    /// wrapped). Any Int64 is accepted; ``signedSlots()`` decodes what fits a balanced slot.
    public init(packingSigned values: [Int64], slotWidth: Int) throws(TallyError) {
        let layout = try SlotLayout(slotWidth: slotWidth, count: values.count)
        self.init(zeros: layout)
        let w = UInt64(slotWidth)
        let mask = layout.slotMax
        values.withUnsafeBufferPointer { src in
            limbs.withUnsafeMutableBufferPointer { out in
                // |carry| ≤ max|v|/(2^w − 1) ≤ 2^63, so t fits 128 bits.
                var carry: Int128 = 0
                var bit: UInt64 = 0
                for value in src {
                    let t = Int128(value) &+ carry
                    let digit = UInt64(truncatingIfNeeded: t) & mask
                    carry = t &>> Int128(w)
                    let limb = Int(truncatingIfNeeded: bit &>> 6)
                    let offset = bit & 63
                    out[limb] |= digit &<< offset
                    if offset + w > 64 {
                        out[limb + 1] |= digit &>> (64 - offset)
                    }
                    bit &+= w
                }
            }
        }
    }

    /// The slots read as balanced digits in [−2^(w−1), 2^(w−1)), least significant first, with the
    /// carry each negative digit implies passed on to the next slot: the inverse of
    /// ``init(packingSigned:slotWidth:)`` for every vector whose values fit that range. A sum of
    /// packings decodes to the exact per-coordinate sums while each sum fits it.
    public func signedSlots() -> [Int64] {
        let d = layout.count
        let w = UInt64(layout.slotWidth)
        let mask = layout.slotMax
        let shift = 64 - w
        let half = UInt64(1) &<< (w - 1)
        return [Int64](unsafeUninitializedCapacity: d) { out, initialized in
            limbs.withUnsafeBufferPointer { src in
                var bit: UInt64 = 0
                var carry: UInt64 = 0 // always 0 or 1
                for i in 0..<d {
                    let raw = Self.extract(src, bit: bit, width: w, mask: mask)
                    let (t, overflow) = raw.addingReportingOverflow(carry)
                    let wrapped = overflow || t > mask // raw + carry = 2^w: the digit is 0
                    let digit = t & mask
                    out[i] = Int64(bitPattern: digit &<< shift) &>> Int64(shift) // sign-extend from w bits
                    carry = (wrapped ? 1 : 0) + (digit >= half ? 1 : 0)
                    bit &+= w
                }
            }
            initialized = d
        }
    }

    private mutating func pack(_ values: UnsafeBufferPointer<UInt64>) throws(TallyError) {
        let maxValue = layout.slotMax
        let w = UInt64(layout.slotWidth)
        try limbs.withUnsafeMutableBufferPointer { (out) throws(TallyError) in
            var bit: UInt64 = 0
            for (index, value) in values.enumerated() {
                guard value <= maxValue else {
                    throw TallyError(.valueOutOfRange, "coordinate \(index) = \(value) does not fit in \(layout.slotWidth) bits")
                }
                let limb = Int(truncatingIfNeeded: bit &>> 6)
                let offset = bit & 63
                out[limb] |= value &<< offset
                if offset + w > 64 {
                    out[limb + 1] |= value &>> (64 - offset)
                }
                bit &+= w
            }
        }
    }

    /// Slot i as an integer in [0, 2^w).
    public subscript(slot i: Int) -> UInt64 {
        precondition(i >= 0 && i < layout.count, "slot index out of range")
        return limbs.withUnsafeBufferPointer {
            Self.extract($0, bit: UInt64(i * layout.slotWidth), width: UInt64(layout.slotWidth), mask: layout.slotMax)
        }
    }

    /// All slots, in order.
    public func unpacked() -> [UInt64] {
        let d = layout.count
        let w = UInt64(layout.slotWidth)
        let mask = layout.slotMax
        return [UInt64](unsafeUninitializedCapacity: d) { out, initialized in
            limbs.withUnsafeBufferPointer { src in
                var bit: UInt64 = 0
                for i in 0..<d {
                    out[i] = Self.extract(src, bit: bit, width: w, mask: mask)
                    bit &+= w
                }
            }
            initialized = d
        }
    }

    @inline(__always)
    private static func extract(_ src: UnsafeBufferPointer<UInt64>, bit: UInt64, width w: UInt64, mask: UInt64) -> UInt64 {
        let limb = Int(truncatingIfNeeded: bit &>> 6)
        let offset = bit & 63
        var value = src[limb] &>> offset
        if offset + w > 64 {
            value |= src[limb + 1] &<< (64 - offset)
        }
        return value & mask
    }

    /// Runs `body` over the limbs; the top limb is re-masked afterwards so the value stays in
    /// the ring whatever `body` wrote.
    public mutating func withUnsafeMutableLimbs<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<UInt64>) throws(E) -> R
    ) throws(E) -> R {
        let topMask = layout.topLimbMask
        return try limbs.withUnsafeMutableBufferPointer { (buffer) throws(E) -> R in
            defer { buffer[buffer.count - 1] &= topMask }
            return try body(buffer)
        }
    }

    public func withUnsafeLimbs<R, E: Error>(_ body: (UnsafeBufferPointer<UInt64>) throws(E) -> R) throws(E) -> R {
        try limbs.withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer) }
    }
}

extension PackedVector {
    /// self ← self + other (mod 2^(w·d)).
    public mutating func add(_ other: PackedVector) throws(TallyError) {
        try requireSameLayout(other)
        let n = limbs.count
        other.limbs.withUnsafeBufferPointer { src in
            withUnsafeMutableLimbs { dst in
                _ = tally_mpn_add_n(dst.baseAddress, dst.baseAddress, src.baseAddress, n)
            }
        }
    }

    /// self ← self − other (mod 2^(w·d)).
    public mutating func subtract(_ other: PackedVector) throws(TallyError) {
        try requireSameLayout(other)
        let n = limbs.count
        other.limbs.withUnsafeBufferPointer { src in
            withUnsafeMutableLimbs { dst in
                _ = tally_mpn_sub_n(dst.baseAddress, dst.baseAddress, src.baseAddress, n)
            }
        }
    }

    private func requireSameLayout(_ other: PackedVector) throws(TallyError) {
        guard layout == other.layout else {
            throw TallyError(
                .sizeMismatch,
                "packed vectors differ in layout: \(layout.count)×\(layout.slotWidth) vs \(other.layout.count)×\(other.layout.slotWidth)")
        }
    }
}

extension PackedVector {
    /// Little-endian bytes, ⌈w·d/8⌉ of them: the wire form.
    public func serialized() -> [UInt8] {
        let byteCount = layout.byteCount
        return [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
            limbs.withUnsafeBytes { raw in
                // Limbs are little-endian on every platform Tally supports (x86-64, arm64).
                out.baseAddress!.initialize(from: raw.bindMemory(to: UInt8.self).baseAddress!, count: byteCount)
            }
            initialized = byteCount
        }
    }

    /// Appends the wire form to `out` without an intermediate buffer.
    public func serialize(appendingTo out: inout [UInt8]) {
        limbs.withUnsafeBytes { raw in
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<layout.byteCount]))
        }
    }

    /// Parses the wire form; the length must match the layout exactly.
    public init(layout: SlotLayout, serialized bytes: some Collection<UInt8>) throws(TallyError) {
        guard bytes.count == layout.byteCount else {
            throw TallyError(
                .sizeMismatch, "expected \(layout.byteCount) bytes for a \(layout.count)×\(layout.slotWidth)-bit vector, got \(bytes.count)"
            )
        }
        var limbs = [UInt64](repeating: 0, count: layout.limbCount)
        limbs.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: bytes)
        }
        try self.init(layout: layout, limbs: limbs)
    }
}
