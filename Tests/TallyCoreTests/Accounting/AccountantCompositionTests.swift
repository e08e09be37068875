import Testing

@testable import TallyCore

/// Direct (schoolbook) convolution of non-negative vectors: every entry is a sum of non-negative
/// products, accurate to a few ulps relative — the reference for the FFT path.
private func directConvolution(_ a: [Double], _ b: [Double]) -> [Double] {
    var out = [Double](repeating: 0, count: a.count + b.count - 1)
    for (i, x) in a.enumerated() where x != 0 {
        for (j, y) in b.enumerated() { out[i + j] += x * y }
    }
    return out
}

/// ‖fft − direct‖₁ on the FFT's window, and the direct mass outside it. Also checks that every
/// upper tail of the window has error within the allowance for its length.
private func compare(_ composed: PrivacyLossPMF, directOffset: Int, direct: [Double]) -> (inside: Double, outside: Double) {
    var inside = 0.0, outside = 0.0
    let shift = composed.offset - directOffset
    for (i, v) in direct.enumerated() {
        let j = i - shift
        if j >= 0 && j < composed.probabilities.count {
            inside += abs(composed.probabilities[j] - v)
        } else {
            outside += v
        }
    }
    var tail = 0.0
    for j in stride(from: composed.probabilities.count - 1, through: 0, by: -1) {
        let i = j + shift
        tail += abs(composed.probabilities[j] - (i >= 0 && i < direct.count ? direct[i] : 0))
        let count = composed.probabilities.count - j
        #expect(tail <= composed.allowance(count) + PrivacyLossPMF.defaultTailMass, "tail of \(count): \(tail)")
    }
    return (inside, outside)
}

@Suite struct AccountantCompositionTests {
    /// The FFT result differs from exact convolution by less than its recorded error bound, the
    /// mass it drops is below the tail allowance moved to +∞, and δ(ε) is never below the exact one.
    @Test func selfCompositionIsWithinItsErrorBound() throws {
        let mechanism = SubsampledGaussianMechanism(sigma: 1, samplingRate: 0.2)
        for adjacency in [SubsampledGaussianMechanism.Adjacency.remove, .add] {
            let single = try mechanism.connectTheDots(adjacency, interval: 0.04)
            let steps = 6
            var direct = single.probabilities
            for _ in 1..<steps { direct = directConvolution(direct, single.probabilities) }
            let composed = try single.selfComposed(times: steps)
            let (inside, outside) = compare(composed, directOffset: single.offset * steps, direct: direct)
            print("\(adjacency): n=\(single.probabilities.count) FFT ℓ1 error \(inside), bound \(composed.totalErrorL1)")
            #expect(composed.errorL2 > 0)
            #expect(
                inside <= composed.totalErrorL1 + PrivacyLossPMF.defaultTailMass,
                "\(adjacency): FFT error \(inside) above bound \(composed.totalErrorL1)")
            #expect(outside <= PrivacyLossPMF.defaultTailMass)
            let exactInfinity = 1 - pow1(1 - single.infinityMass, steps)
            #expect(composed.infinityMass >= exactInfinity)
            let exact = PrivacyLossPMF(
                interval: single.interval, offset: single.offset * steps, probabilities: direct,
                infinityMass: exactInfinity)
            for eps in [0.0, 0.3, 1.0, 2.5, 5.0] {
                #expect(composed.delta(epsilon: eps) >= exact.delta(epsilon: eps), "\(adjacency) ε=\(eps)")
            }
            for delta in [1e-3, 1e-6, 1e-9] {
                #expect(composed.epsilon(delta: delta) >= exact.epsilon(delta: delta) * (1 - 1e-12), "\(adjacency) δ=\(delta)")
            }
        }
    }

    @Test func pairCompositionIsWithinItsErrorBound() throws {
        let a = try SubsampledGaussianMechanism(sigma: 0.8, samplingRate: 0.3).connectTheDots(.remove, interval: 0.01)
        let b = try SubsampledGaussianMechanism(sigma: 2.0, samplingRate: 1).connectTheDots(.remove, interval: 0.01)
        let composed = try a.composed(with: b)
        let direct = directConvolution(a.probabilities, b.probabilities)
        let (inside, outside) = compare(composed, directOffset: a.offset + b.offset, direct: direct)
        print("pair: FFT ℓ1 error \(inside), bound \(composed.totalErrorL1)")
        #expect(
            inside <= composed.totalErrorL1 + PrivacyLossPMF.defaultTailMass, "FFT error \(inside) above bound \(composed.totalErrorL1)")
        #expect(outside <= PrivacyLossPMF.defaultTailMass)
        // Errors carried in are propagated: composing an already composed PLD keeps a bound.
        let again = try composed.composed(with: a)
        #expect(again.errorL1 >= 0.99 * composed.totalErrorL1)
    }

    /// With the error bound, the reported ε is pessimistic by a negligible amount at δ = 1e-5.
    @Test func errorAllowanceIsSmall() throws {
        let single = try SubsampledGaussianMechanism(sigma: 1, samplingRate: 0.01).connectTheDots(.remove, interval: 1e-4)
        let composed = try single.selfComposed(times: 1000)
        #expect(composed.totalErrorL1 < 1e-9)
        let withoutAllowance = PrivacyLossPMF(
            interval: composed.interval, offset: composed.offset, probabilities: composed.probabilities,
            infinityMass: composed.infinityMass)
        let a = composed.epsilon(delta: 1e-5), b = withoutAllowance.epsilon(delta: 1e-5)
        #expect(a >= b && a <= b * (1 + 1e-4))
    }
}

private func pow1(_ x: Double, _ n: Int) -> Double {
    var r = 1.0
    for _ in 0..<n { r *= x }
    return r
}
