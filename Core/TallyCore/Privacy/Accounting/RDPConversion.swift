#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Conversion of an RDP curve (orders α_k, RDP values r_k) into (ε, δ)-DP.
///
/// For each order α > 1 we use the improved conversion of Canonne, Kamath, Steinke (NeurIPS 2020,
/// Proposition 12) — also Asoodeh et al. (2020, eq. 20) and Balle et al. (AISTATS 2020, Thm 21):
///   ε = r + log((α−1)/α) − (log δ + log α)/(α−1),
/// which is never worse than Mironov's ε = r + log(1/δ)/(α−1). In addition, since D_α ≥ KL and
/// TV ≤ √(1 − e^{−KL}) (Bretagnolle–Huber), ε = 0 is certified whenever √(1 − e^{−r}) ≤ δ.
/// The reported ε is the minimum over the orders. Orders ≤ 1.01 are skipped (the formula is
/// numerically unstable there and never optimal).
public enum RDPConversion {
    /// The orders Google dp_accounting uses by default: 1.1, 1.2, …, 10.9, 11, …, 63, 128, 256, 512, 1024.
    public static let defaultOrders: [Double] =
        (1..<100).map { 1 + Double($0) / 10 } + (11..<64).map(Double.init) + [128, 256, 512, 1024]

    /// The smallest ε over the orders, and the order that attains it.
    public static func epsilon(orders: [Double], rdp: [Double], delta: Double) throws(TallyError) -> (epsilon: Double, order: Double) {
        try AccountingInput.check(delta: delta)
        try checkCurve(orders: orders, rdp: rdp)
        var best = (epsilon: Double.infinity, order: orders[0])
        for (alpha, r) in zip(orders, rdp) {
            let eps: Double
            if r == .infinity {
                eps = .infinity
            } else if delta * delta + expm1(-r) >= 0 {
                eps = 0 // TV ≤ √(1 − e^{−r}) ≤ δ
            } else if alpha > 1.01 {
                eps = r + log1p(-1 / alpha) - (log(delta) + log(alpha)) / (alpha - 1)
            } else {
                eps = .infinity
            }
            if eps < best.epsilon { best = (eps, alpha) }
        }
        return (max(0, best.epsilon), best.order)
    }

    /// The smallest δ over the orders for a target ε, and the order that attains it.
    public static func delta(orders: [Double], rdp: [Double], epsilon: Double) throws(TallyError) -> (delta: Double, order: Double) {
        try AccountingInput.check(epsilon: epsilon)
        try checkCurve(orders: orders, rdp: rdp)
        var best = (logDelta: Double.infinity, order: orders[0])
        for (alpha, r) in zip(orders, rdp) {
            guard r < .infinity else { continue }
            // Bretagnolle–Huber: δ ≤ TV ≤ √(1 − e^{−r}).
            var logDelta = r == 0 ? -Double.infinity : 0.5 * log(-expm1(-r))
            if alpha > 1.01 {
                logDelta = min(logDelta, (alpha - 1) * (r - epsilon + log1p(-1 / alpha)) - log(alpha))
            }
            if logDelta < best.logDelta { best = (logDelta, alpha) }
        }
        return (min(1, exp(best.logDelta)), best.order)
    }

    static func checkCurve(orders: [Double], rdp: [Double]) throws(TallyError) {
        guard !orders.isEmpty, orders.count == rdp.count else {
            throw TallyError(.invalidArgument, "need one RDP value per order (got \(orders.count) orders, \(rdp.count) values)")
        }
        for alpha in orders where !(alpha > 1 && alpha.isFinite) {
            throw TallyError(.invalidArgument, "RDP orders must be finite and > 1, got \(alpha)")
        }
        for r in rdp where r.isNaN || r < 0 {
            throw TallyError(.invalidArgument, "RDP values must be non-negative, got \(r)")
        }
    }
}
