#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// One discretized privacy-loss distribution: mass `probabilities[i]` at privacy loss
/// (offset + i)·interval, plus `infinityMass` at +∞.
///
/// Its hockey-stick curve is δ(ε) = p_∞ + Σ_{ℓ_i > ε} p_i (1 − e^{ε−ℓ_i}) (Meiser–Mohammadi 2018;
/// Koskela et al. 2020). Every operation keeps it *pessimistic*: the δ(ε) it reports is never
/// below the δ(ε) of the exact object it stands for.
/// * Construction (connect-the-dots) dominates the mechanism exactly at the grid points.
/// * Composition windows are chosen by a Chernoff bound; all mass outside the window (and any
///   mass the cyclic FFT folds back in) is at most `tailMass`, which is added to `infinityMass`
///   (mass at +∞ adds 1 per unit to δ(ε), more than any finite loss can).
/// * Floating-point error of the FFT is the one quantity that is not rounded in a fixed direction.
///   It is bounded (componentwise and normwise FFT error bounds, Higham 2002 §24.1, with a
///   factor-2 margin, propagated through the power / product) and the bound is added to every
///   reported δ: Σ_{ℓ_i > ε} |error_i| ≤ `errorL1` + √(#{i : ℓ_i > ε})·`errorL2`.
struct PrivacyLossPMF: Sendable {
    let interval: Double
    let offset: Int
    let probabilities: [Double]
    let infinityMass: Double
    /// Bound on the ℓ1 norm of the error carried in from earlier compositions.
    var errorL1: Double = 0
    /// Bound on the ℓ2 norm of this composition's own FFT error over the window.
    var errorL2: Double = 0

    /// Bound on ‖stored − exact‖₁ over the whole window.
    var totalErrorL1: Double { errorL1 + Double(probabilities.count).squareRoot() * errorL2 }

    @inline(__always)
    func loss(_ i: Int) -> Double { Double(offset + i) * interval }

    /// Error allowance for a tail sum over `count` entries.
    @inline(__always)
    func allowance(_ count: Int) -> Double { errorL1 + Double(count).squareRoot() * errorL2 }

    /// δ(ε), including the floating-point allowance; in [0, 1].
    func delta(epsilon: Double) -> Double {
        var sum = 0.0
        var count = 0
        probabilities.withUnsafeBufferPointer { p in
            var i = p.count - 1
            while i >= 0 {
                let l = loss(i)
                if l <= epsilon { break }
                if p[i] > 0 { sum += p[i] * -expm1(epsilon - l) }
                count += 1
                i -= 1
            }
        }
        return min(1, sum + infinityMass + allowance(count))
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ delta (`.infinity` when even ε → ∞ does not get there).
    func epsilon(delta target: Double) -> Double {
        var upper = infinityMass // mass with loss > current ε, counting +∞
        if upper + allowance(0) > target { return .infinity }
        var lower = 0.0 // Σ p_i e^{−ℓ_i} over the same losses
        // e^{−ℓ_i} is stepped by e^{interval} and refreshed every 256 entries; the factor
        // (1 − 1e-12) keeps the rounding of `lower` on the low side, which can only raise δ and ε.
        let step = exp(interval) * (1 - 1e-12)
        return probabilities.withUnsafeBufferPointer { p -> Double in
            var i = p.count - 1
            var weight = 0.0
            while i >= 0 {
                let l = loss(i)
                // For ε in [ℓ_i, ℓ_{i+1}): δ(ε) = upper + allowance − e^ε·lower, decreasing in ε.
                let excess = upper + allowance(p.count - 1 - i) - target
                if excess > 0 {
                    // With no finite mass above, δ is flat on the segment: ε must stay at ℓ_{i+1}.
                    guard lower > 0 else { return max(0, loss(i + 1)) }
                    let candidate = log(excess / lower)
                    if candidate > l { return max(0, candidate) }
                }
                weight = (p.count - 1 - i) % 256 == 0 ? exp(-l) * (1 - 1e-12) : weight * step
                // Negative entries are FFT noise: dropping them only raises δ (pessimistic).
                let mass = max(0, p[i])
                upper += mass
                lower += mass * weight
                i -= 1
            }
            let excess = upper + allowance(p.count) - target
            guard excess > 0 else { return 0 }
            return lower > 0 ? max(0, log(excess / lower)) : max(0, loss(0))
        }
    }

    /// The stored values with negatives clamped to zero, and their sum.
    static func clampedMass(_ p: [Double]) -> (clamped: [Double], mass: Double) {
        var total = 0.0
        let clamped = p.map { v -> Double in
            let c = max(0, v)
            total += c
            return c
        }
        return (clamped, total)
    }
}

// MARK: - Composition

extension PrivacyLossPMF {
    /// Default tail mass a composition may move to +∞ (dp_accounting's default).
    static let defaultTailMass = 1e-15

    /// The T-fold composition, by one FFT: the spectrum is raised to the T-th power.
    func selfComposed(times: Int, tailMass: Double = defaultTailMass) throws(TallyError) -> PrivacyLossPMF {
        precondition(times >= 1)
        if times == 1 { return self }
        let t = Double(times)
        let (p, s1) = Self.clampedMass(probabilities)
        let n = p.count
        let (low, high) = Self.chernoffWindow([(p, times)], tailMass: tailMass)
        let width = high - low + 1
        let length = AccountingMath.fastFFTLength(atLeast: max(width, n))
        guard length <= RealFFT.maxLength else {
            throw TallyError(
                .invalidArgument,
                "composing \(times) rounds needs an FFT of \(length) points (limit \(RealFFT.maxLength)); use a coarser discretization interval"
            )
        }
        var spectrum = p.withUnsafeBufferPointer { RealFFT.forward($0, length: length) }

        // Error bookkeeping (see type comment): η_c bounds each computed coefficient's error.
        let u = AccountingMath.unitRoundoff
        let stages = Double(max(1, Int((log2(Double(length))).rounded(.up))))
        let etaL = 2 * 8 * u * stages
        let etaC = etaL * s1
        var sumRhoPowTm1 = 0.0 // Σ_k ρ_k^{2(T−1)}, ρ_k = |X̂_k| + η_c ≥ |X_k|
        var sumRhoPowT = 0.0 // Σ_k ρ_k^{2T} ≥ ‖Ŷ‖₂²
        let negligibleRho = exp(-800 / t)
        let half = length / 2 + 1
        spectrum.withUnsafeMutableBufferPointer { s in
            for k in 0..<half {
                let re = s[2 * k], im = s[2 * k + 1]
                let r = (re * re + im * im).squareRoot()
                let rho = r + etaC
                let multiplicity = (k == 0 || (length % 2 == 0 && k == length / 2)) ? 1.0 : 2.0
                if rho < negligibleRho {
                    s[2 * k] = 0; s[2 * k + 1] = 0
                    continue
                }
                let logRho = log(rho)
                sumRhoPowTm1 += multiplicity * exp(2 * (t - 1) * logRho)
                sumRhoPowT += multiplicity * exp(2 * t * logRho)
                if r == 0 { continue }
                let magnitude = exp(t * log(r))
                let angle = t * atan2(im, re)
                s[2 * k] = magnitude * cos(angle)
                s[2 * k + 1] = magnitude * sin(angle)
            }
        }
        let y = RealFFT.inverse(spectrum, length: length)
        let sqrtL = Double(length).squareRoot()
        let powerError =
            t * etaC * sumRhoPowTm1.squareRoot()
            + (8.3 * t * u + 3 * u) * sumRhoPowT.squareRoot() + u * sqrtL
        let outputL2 = (powerError + etaL * sumRhoPowT.squareRoot()) / sqrtL + u * (1 + sumRhoPowT.squareRoot() / sqrtL)
        let carried = totalErrorL1
        // ‖a^{*T} − b^{*T}‖₁ ≤ (‖b‖₁ + ‖a − b‖₁)^T − ‖b‖₁^T, evaluated without cancellation.
        let inheritedError = carried > 0 && s1 > 0 ? exp(t * log(s1)) * expm1(t * log1p(carried / s1)) : carried

        let scale = 1 / Double(length)
        var window = [Double](repeating: 0, count: width)
        y.withUnsafeBufferPointer { y in
            var j = low % length
            for m in 0..<width {
                window[m] = y[j] * scale
                j += 1
                if j == length { j = 0 }
            }
        }
        let infinity = -expm1(t * log1p(-infinityMass)) + tailMass
        return PrivacyLossPMF(
            interval: interval, offset: offset * times + low, probabilities: window,
            infinityMass: min(1, infinity), errorL1: inheritedError, errorL2: outputL2)
    }

    /// The composition with another PLD on the same grid (a different mechanism or round).
    func composed(with other: PrivacyLossPMF, tailMass: Double = defaultTailMass) throws(TallyError) -> PrivacyLossPMF {
        precondition(interval == other.interval)
        let (p1, s1) = Self.clampedMass(probabilities)
        let (p2, s2) = Self.clampedMass(other.probabilities)
        let (low, high) = Self.chernoffWindow([(p1, 1), (p2, 1)], tailMass: tailMass)
        let width = high - low + 1
        let length = AccountingMath.fastFFTLength(atLeast: max(width, p1.count, p2.count))
        guard length <= RealFFT.maxLength else {
            throw TallyError(
                .invalidArgument,
                "composition needs an FFT of \(length) points (limit \(RealFFT.maxLength)); use a coarser discretization interval")
        }
        let x1 = p1.withUnsafeBufferPointer { RealFFT.forward($0, length: length) }
        let x2 = p2.withUnsafeBufferPointer { RealFFT.forward($0, length: length) }
        let u = AccountingMath.unitRoundoff
        let stages = Double(max(1, Int((log2(Double(length))).rounded(.up))))
        let etaL = 2 * 8 * u * stages
        let eta1 = etaL * s1, eta2 = etaL * s2
        var norm1 = 0.0, norm2 = 0.0, normY = 0.0
        let half = length / 2 + 1
        var product = [Double](repeating: 0, count: 2 * half)
        for k in 0..<half {
            let multiplicity = (k == 0 || (length % 2 == 0 && k == length / 2)) ? 1.0 : 2.0
            let a = x1[2 * k], b = x1[2 * k + 1], c = x2[2 * k], d = x2[2 * k + 1]
            product[2 * k] = a * c - b * d
            product[2 * k + 1] = a * d + b * c
            norm1 += multiplicity * (a * a + b * b)
            norm2 += multiplicity * (c * c + d * d)
            normY += multiplicity * (product[2 * k] * product[2 * k] + product[2 * k + 1] * product[2 * k + 1])
        }
        let y = RealFFT.inverse(product, length: length)
        let sqrtL = Double(length).squareRoot()
        let productError =
            eta1 * norm2.squareRoot() + eta2 * norm1.squareRoot() + eta1 * eta2 * sqrtL
            + 4 * u * normY.squareRoot()
        let boundY = normY.squareRoot() + productError
        let outputL2 = (productError + etaL * boundY) / sqrtL + u * (1 + boundY / sqrtL)
        let e1 = totalErrorL1, e2 = other.totalErrorL1
        let inheritedError = e1 * s2 + e2 * s1 + e1 * e2

        let scale = 1 / Double(length)
        var window = [Double](repeating: 0, count: width)
        var j = low % length
        for m in 0..<width {
            window[m] = y[j] * scale
            j += 1
            if j == length { j = 0 }
        }
        let infinity = 1 - (1 - infinityMass) * (1 - other.infinityMass) + tailMass
        return PrivacyLossPMF(
            interval: interval, offset: offset + other.offset + low, probabilities: window,
            infinityMass: min(1, infinity), errorL1: inheritedError, errorL2: outputL2)
    }

    /// Index bounds [low, high] of a sum of independent draws (pmf j drawn `count_j` times, indices
    /// from 0) such that each tail outside carries at most tailMass/2, by the Chernoff bound
    /// P(S ≥ a) ≤ e^{−λa}·Π M_j(λ)^{count_j} at λ = ±k/n, k = 1…20 (as dp_accounting does).
    static func chernoffWindow(_ parts: [(pmf: [Double], count: Int)], tailMass: Double) -> (low: Int, high: Int) {
        let maxIndex = parts.reduce(0) { $0 + ($1.pmf.count - 1) * $1.count }
        let longest = parts.map(\.pmf.count).max() ?? 1
        let logTwoOverTail = log(2 / tailMass)
        var high = maxIndex, low = 0
        for k in 1...20 {
            for sign in [1.0, -1.0] {
                let lambda = sign * Double(k) / Double(longest)
                var exponent = logTwoOverTail
                for part in parts {
                    exponent += Double(part.count) * logMGF(part.pmf, lambda: lambda)
                }
                let bound = exponent / lambda
                guard bound.isFinite else { continue }
                if lambda > 0 {
                    if bound + 1 < Double(high) { high = Int(bound.rounded(.up)) + 1 }
                } else {
                    if bound - 1 > Double(low) { low = Int(bound.rounded(.down)) - 1 }
                }
            }
        }
        low = max(0, min(low, maxIndex))
        high = min(maxIndex, max(high, low))
        return (low, high)
    }

    /// log Σ_i p_i e^{λi} for p_i ≥ 0, |λ|·count ≤ 20 (so no overflow). The geometric factor is
    /// refreshed from exp every 256 steps to keep its relative error below 300 ulps.
    static func logMGF(_ p: [Double], lambda: Double) -> Double {
        let step = exp(lambda)
        var sum = 0.0
        p.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                var factor = exp(lambda * Double(i))
                let end = min(p.count, i + 256)
                while i < end {
                    sum += p[i] * factor
                    factor *= step
                    i += 1
                }
            }
        }
        // A relative slack of 1e-12 covers the rounding of the sum and of the factors.
        return log(sum) + 1e-12
    }
}
