/// How d unsigned coordinates of up to `slotWidth` bits each sit side by side in one big
/// integer of `slotWidth · count` bits: coordinate i occupies bits [i·w, (i+1)·w).
///
/// Treating the whole vector as a single integer modulo 2^(w·d) is what lets masking and
/// summation run as one `mpn_add_n` over the limbs instead of d separate modular additions.
public struct SlotLayout: Hashable, Sendable {
    /// Bits per slot, w. 1...64.
    public let slotWidth: Int
    /// Number of slots, d.
    public let count: Int

    public init(slotWidth: Int, count: Int) throws(TallyError) {
        guard (1...64).contains(slotWidth) else {
            throw TallyError(.invalidArgument, "slot width must be 1...64 bits, got \(slotWidth)")
        }
        guard count >= 1 else {
            throw TallyError(.invalidArgument, "a packed vector needs at least one slot, got \(count)")
        }
        guard count <= Int.max / 64 / slotWidth else {
            throw TallyError(.invalidArgument, "\(count) slots of \(slotWidth) bits overflow the address space")
        }
        self.slotWidth = slotWidth
        self.count = count
    }

    /// w · d, the modulus exponent.
    public var bitCount: Int { slotWidth * count }
    /// 64-bit limbs needed to hold `bitCount` bits.
    public var limbCount: Int { (bitCount + 63) / 64 }
    /// Bytes of the packed form on the wire: ⌈w·d / 8⌉.
    public var byteCount: Int { (bitCount + 7) / 8 }
    /// Mask that keeps only the bits of the top limb that belong to the vector.
    public var topLimbMask: UInt64 {
        let used = bitCount % 64
        return used == 0 ? ~0 : (UInt64(1) << UInt64(used)) &- 1
    }
    /// Largest value a slot can hold: 2^w − 1.
    public var slotMax: UInt64 { slotWidth == 64 ? ~0 : (UInt64(1) << UInt64(slotWidth)) &- 1 }

    /// The slot width that lets `summands` values of `valueBits` bits each be added without any
    /// slot carrying into its neighbour: b + ⌈log2 n⌉.
    public static func headroomWidth(valueBits: Int, summands: Int) -> Int {
        precondition(valueBits >= 1 && summands >= 1)
        return valueBits + ceilLog2(summands)
    }

    /// ⌈log2 n⌉ for n ≥ 1.
    public static func ceilLog2(_ n: Int) -> Int {
        precondition(n >= 1)
        return n == 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount
    }
}
