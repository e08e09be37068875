/// The RDP bound Tally's budgets enforce, as a function of (z, q, T) alone: the distributed
/// discrete Gaussian in its Gaussian limit (τ → 0, one share carrying all of σ), so
/// ε(α) = α/(2z²) for one unsampled round and, for Poisson sampling at q < 1, Zhu & Wang's
/// general subsampling bound on it (``DistributedDiscreteGaussian/rdp(order:samplingRate:)``).
///
/// This is what planning tools must use for record-level rounds: the tight sampled-Gaussian RDP
/// of ``RDPAccountant`` (Mironov et al.) is proven for the continuous Gaussian only, and a plan
/// made with it would give a z the coordinator's calibration and every budget put above target.
/// A real plan's τ·d adds to this (negligible at Tally's share σ², but the ledger charges it).
public struct EnforcedRDPAccountant: PrivacyAccountant, Hashable {
    /// The orders minimized over; all > 1.
    public let orders: [Double]

    public init() { orders = RDPConversion.defaultOrders }

    /// σ of the one share standing for the sum: large enough that nothing is rounded away, with
    /// Δ₂ = σ/z so that Δ₂²/σ² is exactly 1/z² in floating point up to one rounding.
    static let sigmaSquared = 1e12

    /// The mechanism at noise multiplier z.
    public static func mechanism(noiseMultiplier z: Double) throws(TallyError) -> DistributedDiscreteGaussian {
        try AccountingInput.check(noiseMultiplier: z)
        return try DistributedDiscreteGaussian(
            shareSigmaSquared: sigmaSquared, shares: 1, dimension: 1, l2Sensitivity: sigmaSquared.squareRoot() / z)
    }

    /// The RDP curve of `steps` rounds at ``orders``.
    public func rdp(noiseMultiplier z: Double, samplingRate q: Double, steps: Int) throws(TallyError) -> [Double] {
        try AccountingInput.check(noiseMultiplier: z, samplingRate: q, steps: steps)
        let mechanism = try Self.mechanism(noiseMultiplier: z)
        var curve: [Double] = []
        curve.reserveCapacity(orders.count)
        for alpha in orders { curve.append(Double(steps) * (try mechanism.rdp(order: alpha, samplingRate: q))) }
        return curve
    }

    public func epsilon(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, delta: Double) throws(TallyError) -> Double {
        try AccountingInput.check(delta: delta)
        return try RDPConversion.epsilon(orders: orders, rdp: rdp(noiseMultiplier: z, samplingRate: q, steps: steps), delta: delta).epsilon
    }

    public func delta(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, epsilon: Double) throws(TallyError) -> Double {
        try AccountingInput.check(epsilon: epsilon)
        return try RDPConversion.delta(orders: orders, rdp: rdp(noiseMultiplier: z, samplingRate: q, steps: steps), epsilon: epsilon).delta
    }
}
