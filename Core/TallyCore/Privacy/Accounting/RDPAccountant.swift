/// Rényi-DP accountant for T rounds of the Poisson-subsampled Gaussian mechanism.
///
/// RDP composes additively (Mironov 2017, Prop. 1), so T rounds give T·ε(α) at every order; the
/// per-round ε(α) is exact (Mironov–Talwar–Zhang 2019, see ``SubsampledGaussianRDP``) at integer
/// and fractional orders, and the (ε, δ) conversion is ``RDPConversion``. RDP is looser than the
/// PLD accountant but cheap and closed under heterogeneous composition: sum the curves of
/// different rounds with ``rdp(noiseMultiplier:samplingRate:steps:)`` and convert once.
public struct RDPAccountant: PrivacyAccountant, Hashable {
    /// The orders minimized over; all > 1.
    public let orders: [Double]

    /// The accountant over ``RDPConversion/defaultOrders``.
    public init() { orders = RDPConversion.defaultOrders }

    public init(orders: [Double]) throws(TallyError) {
        guard !orders.isEmpty else { throw TallyError(.invalidArgument, "RDP accountant needs at least one order") }
        for alpha in orders where !(alpha > 1 && alpha.isFinite) {
            throw TallyError(.invalidArgument, "RDP orders must be finite and > 1, got \(alpha)")
        }
        self.orders = orders
    }

    /// RDP of one round of the subsampled Gaussian at a single order α > 1.
    public static func rdp(order: Double, noiseMultiplier z: Double, samplingRate q: Double) throws(TallyError) -> Double {
        try AccountingInput.check(noiseMultiplier: z)
        try AccountingInput.check(samplingRate: q)
        guard order > 1, order.isFinite else { throw TallyError(.invalidArgument, "RDP order must be finite and > 1, got \(order)") }
        return SubsampledGaussianRDP.rdp(order: order, sigma: z, samplingRate: q)
    }

    /// The RDP curve of `steps` rounds at ``orders``.
    public func rdp(noiseMultiplier z: Double, samplingRate q: Double, steps: Int) throws(TallyError) -> [Double] {
        try AccountingInput.check(noiseMultiplier: z, samplingRate: q, steps: steps)
        return orders.map { Double(steps) * SubsampledGaussianRDP.rdp(order: $0, sigma: z, samplingRate: q) }
    }

    public func epsilon(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, delta: Double) throws(TallyError) -> Double {
        try epsilonAndOrder(noiseMultiplier: z, samplingRate: q, steps: steps, delta: delta).epsilon
    }

    /// ε and the order at which it is attained (an order at the edge of the grid means the grid
    /// should be widened).
    public func epsilonAndOrder(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, delta: Double) throws(TallyError) -> (
        epsilon: Double, order: Double
    ) {
        try AccountingInput.check(delta: delta)
        let curve = try rdp(noiseMultiplier: z, samplingRate: q, steps: steps)
        return try RDPConversion.epsilon(orders: orders, rdp: curve, delta: delta)
    }

    public func delta(noiseMultiplier z: Double, samplingRate q: Double, steps: Int, epsilon: Double) throws(TallyError) -> Double {
        try AccountingInput.check(epsilon: epsilon)
        let curve = try rdp(noiseMultiplier: z, samplingRate: q, steps: steps)
        return try RDPConversion.delta(orders: orders, rdp: curve, epsilon: epsilon).delta
    }
}
