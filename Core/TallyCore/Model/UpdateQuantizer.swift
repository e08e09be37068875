/// Turns a float model update into unsigned integers for secure summation, and a sum of such
/// integer vectors back into floats.
///
/// Each coordinate is clamped to [−range, range] and mapped affinely onto the grid
/// 0 … 2^valueBits − 1 with step `2·range / (2^valueBits − 1)`, rounding to one of the two
/// neighbouring grid points at random with probability proportional to proximity. That
/// rounding is unbiased — E[decode(q)] equals the clamped value — so errors average out across
/// coordinates, rounds and participants instead of accumulating as a bias. Randomness comes
/// from a ``CryptoRandomSource`` so that it is reproducible in tests and unpredictable in
/// production.
///
/// Because the map is affine, the sum of n encodings decodes as
/// Σv ≈ Σq · step − n · range, with error below n · step per coordinate (plus whatever
/// clamping removed, which ``encode(_:random:)`` reports).
public struct UpdateQuantizer: Sendable, Hashable {
    /// Largest supported width. Secure aggregation uses far fewer bits (16–24); the cap keeps
    /// sums of up to 2^21 encodings exact in `Double` while decoding.
    public static let maxValueBits = 32

    /// Bits per encoded coordinate: every encoded value is below 2^valueBits.
    public let valueBits: Int
    /// Clamping bound: coordinates outside [−range, range] are clamped.
    public let range: Double

    public init(valueBits: Int, range: Double) throws(TallyError) {
        guard (1...Self.maxValueBits).contains(valueBits) else {
            throw TallyError(.invalidArgument, "valueBits must be in 1...\(Self.maxValueBits), got \(valueBits)")
        }
        guard range > 0, range.isFinite else {
            throw TallyError(.invalidArgument, "range must be positive and finite")
        }
        self.valueBits = valueBits
        self.range = range
    }

    /// The largest encoded value, 2^valueBits − 1.
    public var maxLevel: UInt64 { (UInt64(1) << UInt64(valueBits)) - 1 }

    /// The value of one grid step, 2·range / (2^valueBits − 1).
    public var step: Double { 2 * range / Double(maxLevel) }

    /// Encodes `update`, returning the grid values and how many coordinates were clamped.
    /// NaN is refused: it has no meaningful place on the grid.
    public func encode(_ update: [Float], random: some CryptoRandomSource) throws(TallyError) -> (values: [UInt64], clampedCount: Int) {
        var clamped = 0
        var values = [UInt64]()
        values.reserveCapacity(update.count)
        let levels = Double(maxLevel)
        let scale = levels / (2 * range)
        for (i, element) in update.enumerated() {
            guard !element.isNaN else { throw TallyError(.invalidArgument, "update coordinate \(i) is NaN") }
            var x = Double(element)
            if x > range {
                x = range
                clamped += 1
            } else if x < -range {
                x = -range
                clamped += 1
            }
            // Position on the grid in [0, levels]; round up with probability equal to the fraction.
            let position = min(levels, max(0, (x + range) * scale))
            let floor = position.rounded(.down)
            let fraction = position - floor
            let uniform = Double(random.nextWord() >> 11) * 0x1p-53  // [0, 1), 53 bits
            var q = UInt64(floor)
            if uniform < fraction { q += 1 }
            values.append(min(q, maxLevel))
        }
        return (values, clamped)
    }

    /// Decodes the coordinate-wise sum of `count` encodings (from ``encode(_:random:)``) into the
    /// sum of the original (clamped) vectors, to within `count · step` per coordinate (plus the
    /// final rounding to `Float`). A coordinate larger than `count · (2^valueBits − 1)` cannot be
    /// such a sum and is refused as corrupted.
    public func decodeSum(_ sum: [UInt64], count: Int) throws(TallyError) -> [Float] {
        guard count >= 1 else { throw TallyError(.invalidArgument, "count must be at least 1") }
        let (bound, overflow) = maxLevel.multipliedReportingOverflow(by: UInt64(count))
        guard !overflow, bound < (UInt64(1) << 53) else {
            throw TallyError(.valueOutOfRange, "a sum of \(count) values of \(valueBits) bits is too large to decode exactly")
        }
        let step = step, offset = Double(count) * range
        var out = [Float]()
        out.reserveCapacity(sum.count)
        for (i, q) in sum.enumerated() {
            guard q <= bound else {
                throw TallyError(.valueOutOfRange, "sum coordinate \(i) is \(q), above the largest possible \(bound) for \(count) summands")
            }
            out.append(Float(Double(q) * step - offset))
        }
        return out
    }

    /// Decodes a single encoding (a sum of one).
    public func decode(_ values: [UInt64]) throws(TallyError) -> [Float] {
        try decodeSum(values, count: 1)
    }
}
