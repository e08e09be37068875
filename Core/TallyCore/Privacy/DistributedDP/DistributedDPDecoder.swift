/// The coordinator's side: turns the unmasked sum of m encodings back into the sum of the m
/// (clipped, noised) updates in model units — read the slots as signed digits, unscale, rotate back.
///
/// The result is Σ clip(Δ_i) + noise, where the noise is the sum of the m participants' discrete
/// Gaussian shares over the scale; the coordinator cannot separate the two.
public struct DistributedDPDecoder: Sendable {
    public let configuration: DistributedDPConfiguration
    let rotation: RandomizedHadamard?

    /// A decoded sum.
    public struct Sum: Sendable {
        /// The first `parameterCount` coordinates of the sum, in model units.
        public let values: [Double]
        /// Coordinates whose decoded magnitude exceeds m·clampBound: a sum that probably
        /// overflowed its slot (chance ≤ ``DistributedDPConfiguration/overflowProbability``).
        /// Accuracy only — the released sum is the same function of the noisy sum either way —
        /// so callers log it.
        public let overflowSuspected: Int
    }

    public init(configuration: DistributedDPConfiguration, rotationSeed: [UInt8]) throws(TallyError) {
        self.configuration = configuration
        rotation = configuration.rotate ? try RandomizedHadamard(dimension: configuration.dimension, seed: rotationSeed) : nil
    }

    /// - Parameters:
    ///   - sum: the unmasked sum of the encodings' packings
    ///     (``DistributedDPEncoder/Encoding/packed(slotWidth:)``), in slots wide enough for m
    ///     b-bit values: w ≥ b + ⌈log2 m⌉.
    ///   - contributors: m, the number of encodings in `sum`.
    public func decodeSum(_ sum: PackedVector, contributors m: Int) throws(TallyError) -> Sum {
        let c = configuration
        guard sum.layout.count == c.dimension else {
            throw TallyError(.sizeMismatch, "sum has \(sum.layout.count) coordinates, the round encoded \(c.dimension)")
        }
        guard m >= 1, m <= c.cohortSize else { throw TallyError(.invalidArgument, "contributors must be in 1...\(c.cohortSize), got \(m)") }
        let needed = SlotLayout.headroomWidth(valueBits: c.valueBits, summands: m)
        guard sum.layout.slotWidth >= needed else {
            throw TallyError(
                .invalidArgument,
                "slots of \(sum.layout.slotWidth) bits cannot hold the sum of \(m) \(c.valueBits)-bit values (need \(needed))")
        }
        let slots = sum.signedSlots()
        let envelope = Int64(m) * c.clampBound
        var y = [Double](repeating: 0, count: c.dimension)
        var suspected = 0
        let inverseScale = 1 / c.scale
        for i in 0..<c.dimension {
            if slots[i] > envelope || slots[i] < -envelope { suspected += 1 }
            y[i] = Double(slots[i]) * inverseScale
        }
        rotation?.unrotate(&y)
        return Sum(values: Array(y.prefix(c.parameterCount)), overflowSuspected: suspected)
    }
}
