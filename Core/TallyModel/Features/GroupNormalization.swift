public import TallyCore

/// Group normalization of one example (Wu & He 2018) without the learned scale and shift, as
/// `torch.nn.GroupNorm(groups, channels, affine=False)`: the channels are split into `groups`
/// consecutive groups and each group's values (its channels × positions) are shifted to mean 0 and
/// divided by √(biased variance + ε).
///
/// It depends on the example alone, so it needs no data statistics (and costs no privacy budget):
/// Tramèr & Boneh normalize Fashion-MNIST's ScatterNet features this way, with 27 groups of 3.
public struct GroupNormalization: Sendable, Hashable {
    public let channels: Int
    public let groups: Int
    /// Values per channel (7 × 7 for Fashion-MNIST's scattering features).
    public let positions: Int
    public let epsilon: Double

    public init(channels: Int, groups: Int, positions: Int, epsilon: Double = 1e-5) throws(TallyError) {
        guard channels > 0, groups > 0, positions > 0, channels % groups == 0 else {
            throw TallyError(
                .invalidArgument,
                "group normalization needs positive sizes and channels divisible by groups, got \(channels) channels, \(groups) groups, \(positions) positions"
            )
        }
        guard epsilon >= 0, epsilon.isFinite else {
            throw TallyError(.invalidArgument, "group normalization needs a finite ε ≥ 0, got \(epsilon)")
        }
        self.channels = channels
        self.groups = groups
        self.positions = positions
        self.epsilon = epsilon
    }

    /// Values of one example: channels × positions, channel-major.
    public var count: Int { channels * positions }

    /// Normalizes one example in place. Statistics are two-pass in double precision.
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == count, "\(values.count) values, expected \(channels) × \(positions)")
        let groupSize = count / groups
        for g in 0..<groups {
            let start = g * groupSize
            var sum = 0.0
            for i in start..<(start + groupSize) { sum += Double(values[i]) }
            let mean = sum / Double(groupSize)
            var squares = 0.0
            for i in start..<(start + groupSize) {
                let d = Double(values[i]) - mean
                squares += d * d
            }
            let scale = 1 / (squares / Double(groupSize) + epsilon).squareRoot()
            for i in start..<(start + groupSize) { values[i] = Float((Double(values[i]) - mean) * scale) }
        }
    }

    /// As ``apply(_:)`` on a copy.
    public func apply(_ values: [Float]) -> [Float] {
        var out = values
        out.withUnsafeMutableBufferPointer { apply($0) }
        return out
    }
}
