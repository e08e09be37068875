#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// RDP of the distributed discrete Gaussian: the coordinator sees Σ_i (x_i + Z_i) where each of
/// `shares` participants adds Z_i ∼ N_Z(0, σ²)^d. A sum of discrete Gaussians is *not* a discrete
/// Gaussian, but it is close to one.
///
/// Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism for Federated Learning with
/// Secure Aggregation" (ICML 2021), Proposition 14 / eq. (17) (used by their Theorem 1): for σ ≥ 1/2,
/// n shares, Δ ∈ ℤ^d and all α ≥ 1,
///
///     D_α(Y ‖ Y + Δ) ≤ min{ α‖Δ‖₂²/(2nσ²) + τd,
///                            (α/2)·(‖Δ‖₂²/(nσ²) + 2‖Δ‖₁τ/(√n·σ) + τ²d),
///                            (α/2)·(‖Δ‖₂/(√n·σ) + τ√d)² },
///     τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)).
///
/// For n = 1 (τ = 0) this is the discrete Gaussian's α‖Δ‖²/(2σ²) (Canonne, Kamath, Steinke 2020).
/// Sensitivities are in the integer (scaled and randomly rounded) units the shares are added in.
/// The bound is for sums that contain at least `shares` noise shares: use the number of
/// participants whose noise is actually in the released sum (survivors), never the cohort size.
public struct DistributedDiscreteGaussian: Sendable, Hashable {
    /// σ² of each participant's share N_Z(0, σ²) (the distribution's parameter, not its variance).
    public let shareSigmaSquared: Double
    /// Number of independent shares in the released sum.
    public let shares: Int
    /// Dimension d of the released vector.
    public let dimension: Int
    /// ℓ2 sensitivity ‖Δ‖₂ of one participant's rounded contribution.
    public let l2Sensitivity: Double
    /// ℓ1 sensitivity ‖Δ‖₁.
    public let l1Sensitivity: Double

    /// - Parameter l1Sensitivity: when omitted, min(√d·Δ₂, Δ₂²), which holds for every integer vector
    ///   (each non-zero integer coordinate has |Δ_i| ≤ Δ_i²).
    public init(shareSigmaSquared: Double, shares: Int, dimension: Int, l2Sensitivity: Double, l1Sensitivity: Double? = nil)
        throws(TallyError)
    {
        guard shareSigmaSquared.isFinite, shareSigmaSquared >= 0.25 else {
            throw TallyError(
                .invalidArgument, "share σ² must be finite and ≥ 1/4 (Kairouz–Liu–Steinke need σ ≥ 1/2), got \(shareSigmaSquared)")
        }
        guard shares >= 1 else { throw TallyError(.invalidArgument, "need at least one noise share, got \(shares)") }
        guard dimension >= 1 else { throw TallyError(.invalidArgument, "dimension must be at least 1, got \(dimension)") }
        guard l2Sensitivity.isFinite, l2Sensitivity >= 0 else {
            throw TallyError(.invalidArgument, "ℓ2 sensitivity must be finite and non-negative, got \(l2Sensitivity)")
        }
        let d = Double(dimension)
        let l1 = l1Sensitivity ?? min(d.squareRoot() * l2Sensitivity, l2Sensitivity * l2Sensitivity)
        guard l1.isFinite, l1 >= 0 else {
            throw TallyError(.invalidArgument, "ℓ1 sensitivity must be finite and non-negative, got \(l1)")
        }
        self.shareSigmaSquared = shareSigmaSquared
        self.shares = shares
        self.dimension = dimension
        self.l2Sensitivity = l2Sensitivity
        self.l1Sensitivity = l1
    }

    /// At most this many terms of τ's sum are added one by one; the rest are bounded in one step.
    public static let maxExactTauTerms = 1 << 16

    /// τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)), the distance of the sum from a discrete Gaussian,
    /// or an upper bound on it. The terms decrease in k, so past the first ``maxExactTauTerms``
    /// the remaining n − 1 − K terms are each at most the (K+1)-th: bounded work for any n (a
    /// ledger entry may claim 2⁶² shares), and never below the true τ, which only raises the RDP.
    public var tau: Double {
        var sum = 0.0
        let c = -2 * Double.pi * Double.pi * shareSigmaSquared
        let terms = shares - 1
        let exact = min(terms, Self.maxExactTauTerms)
        if exact >= 1 {
            for k in 1...exact {
                let dk = Double(k)
                sum += exp(c * dk / (dk + 1))
            }
        }
        if terms > exact {
            let next = Double(exact + 1)
            sum += Double(terms - exact) * exp(c * next / (next + 1))
        }
        return 10 * sum
    }

    /// RDP ε(α) of one release, α ≥ 1 (Proposition 14 above).
    public func rdp(order alpha: Double) throws(TallyError) -> Double {
        guard alpha >= 1, alpha.isFinite else { throw TallyError(.invalidArgument, "RDP order must be finite and ≥ 1, got \(alpha)") }
        return rdp(alpha, tau: tau)
    }

    func rdp(_ alpha: Double, tau: Double) -> Double {
        let n = Double(shares), d = Double(dimension)
        let nSigma2 = n * shareSigmaSquared
        let l2 = l2Sensitivity, l1 = l1Sensitivity
        let first = alpha * l2 * l2 / (2 * nSigma2) + tau * d
        let second = alpha / 2 * (l2 * l2 / nSigma2 + 2 * l1 * tau / nSigma2.squareRoot() + tau * tau * d)
        let root = l2 / nSigma2.squareRoot() + tau * d.squareRoot()
        let third = alpha / 2 * root * root
        return min(first, second, third)
    }

    /// RDP of one release with Poisson subsampling at rate q, for order α > 1.
    ///
    /// For q < 1 this is the general Poisson-subsampling upper bound of Zhu & Wang (ICML 2019,
    /// "Poisson Subsampled Rényi Differential Privacy", general upper bound — the one with the
    /// factor 3), valid for any mechanism and integer α ≥ 2:
    ///   (α−1)·ε'(α) ≤ log[(1−q)^{α−1}(αq − q + 1) + C(α,2)q²(1−q)^{α−2}e^{ε(2)}
    ///                     + 3·Σ_{l=3}^{α} C(α,l)(1−q)^{α−l}q^l e^{(l−1)ε(l)}],
    /// capped by the unsubsampled ε(α). A fractional α is evaluated at ⌈α⌉, which is an upper
    /// bound because Rényi divergence is non-decreasing in the order (van Erven–Harremoës 2014, Thm 3).
    public func rdp(order alpha: Double, samplingRate q: Double) throws(TallyError) -> Double {
        guard alpha > 1, alpha.isFinite else { throw TallyError(.invalidArgument, "RDP order must be finite and > 1, got \(alpha)") }
        try AccountingInput.check(samplingRate: q)
        let t = tau
        let unsampled = rdp(alpha, tau: t)
        if q == 1 { return unsampled }
        let m = Int(alpha.rounded(.up))
        let a = Double(m)
        let logQ = log(q), log1mQ = log1p(-q)
        var logSum = (a - 1) * log1mQ + log1p((a - 1) * q)
        logSum = AccountingMath.logAddExp(logSum, AccountingMath.logBinomial(a, 2) + 2 * logQ + (a - 2) * log1mQ + rdp(2, tau: t))
        if m >= 3 {
            for l in 3...m {
                let dl = Double(l)
                let term = log(3.0) + AccountingMath.logBinomial(a, dl) + (a - dl) * log1mQ + dl * logQ + (dl - 1) * rdp(dl, tau: t)
                logSum = AccountingMath.logAddExp(logSum, term)
            }
        }
        return min(unsampled, max(0, logSum / (a - 1)))
    }

    /// ε for `steps` releases at target δ, minimized over `orders` (RDP composes additively).
    public func epsilon(samplingRate q: Double = 1, steps: Int, delta: Double, orders: [Double] = RDPConversion.defaultOrders)
        throws(TallyError) -> Double
    {
        try AccountingInput.check(samplingRate: q)
        try AccountingInput.check(steps: steps)
        try AccountingInput.check(delta: delta)
        var curve: [Double] = []
        curve.reserveCapacity(orders.count)
        for alpha in orders {
            curve.append(Double(steps) * (try rdp(order: alpha, samplingRate: q)))
        }
        return try RDPConversion.epsilon(orders: orders, rdp: curve, delta: delta).epsilon
    }
}
