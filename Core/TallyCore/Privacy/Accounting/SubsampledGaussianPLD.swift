#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Hockey-stick curves of one round of the Poisson-subsampled Gaussian (sensitivity 1, noise σ),
/// and their pessimistic connect-the-dots discretization.
///
/// Dominating pairs under add/remove adjacency (Zhu, Dong, Wang, AISTATS 2022; as in dp_accounting):
/// * remove: P = (1−q)N(0,σ²) + qN(−1,σ²) against Q = N(0,σ²),
/// * add:    P = N(0,σ²) against Q = (1−q)N(0,σ²) + qN(1,σ²).
/// Both have closed forms in δ_G, the curve of the plain Gaussian pair N(0,σ²) vs N(1,σ²)
/// (Balle–Wang 2018): δ_G(t) = Φ(1/(2σ) − σt) − e^t·Φ(−1/(2σ) − σt), and
/// * δ_remove(ε) = q·δ_G(log(1 + (e^ε − 1)/q))                 for ε > log(1−q), else 1 − e^ε;
/// * δ_add(ε)    = (1 − (1−q)e^ε)·δ_G(−log(1 + (e^{−ε} − 1)/q)) for ε < −log(1−q), else 0.
/// Each is evaluated as a sum of positive terms (δ_G(t) = 1 − e^t + e^t·δ_G(−t) for t < 0), so
/// values far in the tail keep full relative precision.
struct SubsampledGaussianMechanism: Sendable {
    enum Adjacency: Sendable { case remove, add }

    let sigma: Double
    let samplingRate: Double

    /// δ_G(t) for the pair N(0,σ²), N(1,σ²).
    func gaussianDelta(_ t: Double) -> Double {
        if t == .infinity { return 0 }
        if t == -.infinity { return 1 }
        if t < 0 { return -expm1(t) + exp(t) * gaussianDelta(-t) }
        let s = sigma
        let logA = AccountingMath.logNormalCDF(0.5 / s - s * t)
        let logB = AccountingMath.logNormalCDF(-0.5 / s - s * t)
        let w = t + logB - logA
        if w >= 0 { return 0 }
        return exp(logA) * -expm1(w)
    }

    /// log(1 + (e^x − 1)/q), accurate for large x.
    @inline(__always)
    private func logShift(_ x: Double) -> Double {
        let q = samplingRate
        if x > 0 { return x - log(q) + log1p(-(1 - q) * exp(-x)) }
        return log1p(expm1(x) / q)
    }

    func delta(_ epsilon: Double, _ adjacency: Adjacency) -> Double {
        let q = samplingRate
        if q == 1 { return gaussianDelta(epsilon) }
        switch adjacency {
        case .remove:
            if epsilon <= log1p(-q) { return -expm1(epsilon) }
            return q * gaussianDelta(logShift(epsilon))
        case .add:
            if epsilon >= -log1p(-q) { return 0 }
            let l = logShift(-epsilon)
            return q * exp(epsilon + l) * gaussianDelta(-l)
        }
    }

    /// e^ε·δ_{Q‖P}(−ε) = δ(ε) − (1 − e^ε): the same curve without its linear part, which is tiny
    /// where δ is close to 1 − e^ε (ε < 0). The reversed pair of "remove" is "add" and vice versa.
    func reducedDelta(_ epsilon: Double, _ adjacency: Adjacency) -> Double {
        exp(epsilon) * delta(-epsilon, adjacency == .remove ? .add : .remove)
    }

    /// The privacy loss log(P(x)/Q(x)) at outcome x (non-increasing in x).
    func privacyLoss(_ x: Double, _ adjacency: Adjacency) -> Double {
        let s2 = sigma * sigma
        switch adjacency {
        case .remove: return AccountingMath.logOneMinusQPlusQExp(samplingRate, (-0.5 - x) / s2)
        case .add: return -AccountingMath.logOneMinusQPlusQExp(samplingRate, (x - 0.5) / s2)
        }
    }

    /// The pessimistic connect-the-dots PLD on the grid ε_i = (lo + i)·interval.
    ///
    /// Doroshenko, Ghazi, Kamath, Kumar, Manurangsi, "Connect the Dots: Tighter Discrete
    /// Approximations of Privacy Loss Distributions" (PETS 2022), Algorithm 1 with equal gaps d:
    /// p_0 = 1 − δ_0 + (δ_1 − δ_0)/(e^d − 1), p_i = [(δ_{i+1} − δ_i) − e^d(δ_i − δ_{i−1})]/(e^d − 1),
    /// p_last = (δ_{n−2} − δ_{n−1})/(1 − e^{−d}), p_∞ = δ_{n−1}. Its hockey-stick curve equals δ at
    /// every grid point and is affine in e^ε between them, while the true curve is convex in e^ε
    /// (a supremum of affine functions P(S) − e^ε·Q(S)); so it lies above the true curve and is a
    /// dominating PLD (their pessimistic estimate): composing it never understates δ. Unlike
    /// rounding every loss up to the grid ("privacy buckets"), its error does not grow linearly in T.
    ///
    /// The grid spans the losses of outcomes x with both Gaussians' tails beyond x below
    /// ½e^{logMassTruncation} (dp_accounting's choice); mass beyond the top lands in p_∞ and
    /// below the bottom in p_0, both pessimistic. Where ε_i < 0 the second differences use
    /// ``reducedDelta`` (the linear part 1 − e^ε has zero second difference here), avoiding
    /// cancellation between numbers close to 1. Negative rounding residue is clamped to 0, which
    /// only adds mass (pessimistic).
    func connectTheDots(_ adjacency: Adjacency, interval d: Double, logMassTruncation: Double = -50) throws(TallyError) -> PrivacyLossPMF {
        var lowerX = sigma * AccountingMath.normalQuantile(logProbability: log(0.5) + logMassTruncation)
        var upperX = -lowerX
        switch adjacency {
        case .remove: lowerX -= 1
        case .add: upperX += 1
        }
        let epsilonUpper = privacyLoss(lowerX, adjacency)
        let epsilonLower = privacyLoss(upperX, adjacency)
        let loD = (epsilonLower / d).rounded(.down), hiD = (epsilonUpper / d).rounded(.up)
        guard hiD - loD < Double(RealFFT.maxLength) else {
            throw TallyError(
                .invalidArgument,
                "the privacy-loss range [\(epsilonLower), \(epsilonUpper)] needs more than \(RealFFT.maxLength) grid points at interval \(d); use a larger noise multiplier or a coarser interval"
            )
        }
        let lo = Int(loD), hi = Int(hiD)
        let n = hi - lo + 1
        func eps(_ i: Int) -> Double { Double(lo + i) * d }

        // δ where a triple centred at ε ≥ 0 needs it (plus the top), reduced δ where ε < 0. The curve
        // is raised to (1 + κ)·δ, κ = 1e-9, far above the rounding of the closed forms (≲ 1e-11
        // relative even where the log-CDFs are near −1000), so grid values are never below the
        // truth; in reduced form that is (1 + κ)·H + κ·(1 − e^ε), the same curve.
        let kappa = 1e-9, inflate = 1 + kappa
        let firstNonNegative = min(n, max(0, -lo)) // first i with ε_i ≥ 0
        var full = [Double](repeating: .nan, count: n)
        for i in min(max(0, firstNonNegative - 1), max(0, n - 2))..<n { full[i] = min(1, delta(eps(i), adjacency) * inflate) }
        var reduced = [Double](repeating: .nan, count: n)
        if firstNonNegative > 0 {
            for i in 0...min(n - 1, firstNonNegative) { reduced[i] = reducedDelta(eps(i), adjacency) * inflate - kappa * expm1(eps(i)) }
        }

        var probabilities = [Double](repeating: 0, count: n)
        let em1 = expm1(d), ed = 1 + em1
        if n == 1 {
            let top = min(1, delta(eps(0), adjacency) * inflate)
            return PrivacyLossPMF(interval: d, offset: lo, probabilities: [1 - top], infinityMass: top)
        }
        if firstNonNegative > 0 {
            probabilities[0] = (reduced[1] - ed * reduced[0]) / em1
        } else {
            probabilities[0] = 1 - full[0] + (full[1] - full[0]) / em1
        }
        if n > 2 {
            for i in 1..<(n - 1) {
                let v = i < firstNonNegative ? reduced : full
                probabilities[i] = ((v[i + 1] - v[i]) - ed * (v[i] - v[i - 1])) / em1
            }
        }
        probabilities[n - 1] = (full[n - 2] - full[n - 1]) / -expm1(-d)
        for i in 0..<n where !(probabilities[i] > 0) { probabilities[i] = 0 }
        return PrivacyLossPMF(interval: d, offset: lo, probabilities: probabilities, infinityMass: full[n - 1])
    }
}
