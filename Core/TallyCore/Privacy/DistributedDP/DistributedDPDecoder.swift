/// The coordinator's side: turns the unmasked sum of m encodings back into the sum of the m
/// (clipped, noised) updates in model units — remove the offsets, unscale, rotate back.
///
/// The result is Σ clip(Δ_i) + noise, where the noise is the sum of the m participants' discrete
/// Gaussian shares over the scale; the coordinator cannot separate the two.
public struct DistributedDPDecoder: Sendable {
    public let configuration: DistributedDPConfiguration
    let rotation: RandomizedHadamard?

    public init(configuration: DistributedDPConfiguration, rotationSeed: [UInt8]) throws(TallyError) {
        self.configuration = configuration
        rotation = configuration.rotate ? try RandomizedHadamard(dimension: configuration.dimension, seed: rotationSeed) : nil
    }

    /// - Parameter contributors: m, the number of encodings in `sum`.
    /// - Returns: the first `parameterCount` coordinates of the decoded sum.
    public func decodeSum(_ sum: [UInt64], contributors m: Int) throws(TallyError) -> [Double] {
        let c = configuration
        guard sum.count == c.dimension else {
            throw TallyError(.sizeMismatch, "sum has \(sum.count) coordinates, the round encoded \(c.dimension)")
        }
        guard m >= 1, m <= c.cohortSize else { throw TallyError(.invalidArgument, "contributors must be in 1...\(c.cohortSize), got \(m)") }
        let offset = Int64(c.offset) * Int64(m)
        let largest = UInt64(m) * (UInt64(1) << UInt64(c.valueBits))
        var y = [Double](repeating: 0, count: c.dimension)
        let inverseScale = 1 / c.scale
        for i in 0..<c.dimension {
            guard sum[i] < largest else {
                throw TallyError(.valueOutOfRange, "sum coordinate \(i) is \(sum[i]), above the largest possible for \(m) encodings")
            }
            y[i] = Double(Int64(sum[i]) - offset) * inverseScale
        }
        rotation?.unrotate(&y)
        return Array(y.prefix(c.parameterCount))
    }
}
