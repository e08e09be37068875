import Foundation
import Testing

@testable import TallyCore

/// A_α − 1 = ∫ φ_σ(x)·[(1 − q + q·e^{(2x−1)/(2σ²)})^α − 1] dx by composite Simpson on three
/// pieces (the bumps sit near 0 and near α), returned as the RDP log(A_α)/(α−1).
private func integratedRDP(q: Double, sigma s: Double, alpha a: Double) -> Double {
    func f(_ x: Double) -> Double {
        let w = log1p(q * expm1((2 * x - 1) / (2 * s * s)))
        return exp(-x * x / (2 * s * s)) / (s * (2 * Double.pi).squareRoot()) * expm1(a * w)
    }
    func simpson(_ lo: Double, _ hi: Double, _ n: Int) -> Double {
        let h = (hi - lo) / Double(n)
        var sum = f(lo) + f(hi)
        for i in 1..<n { sum += f(lo + Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
        return sum * h / 3
    }
    let aMinus1 = simpson(-40 * s, 0, 20_000) + simpson(0, a, 20_000) + simpson(a, a + 40 * s, 20_000)
    return log1p(aMinus1) / (a - 1)
}

@Suite struct AccountantRDPTests {
    @Test func integerOrdersMatchDPAccounting() throws {
        let accountant = try RDPAccountant(orders: DPAccountingVectors.integerOrders)
        for c in DPAccountingVectors.cases {
            let ours = try accountant.rdp(noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: c.steps)
            for (k, (mine, theirs)) in zip(ours, c.rdp).enumerated() {
                #expect(
                    abs(mine - theirs) <= 1e-9 * abs(theirs),
                    "z=\(c.noiseMultiplier) q=\(c.samplingRate) T=\(c.steps) α=\(DPAccountingVectors.integerOrders[k]): \(mine) vs \(theirs)"
                )
            }
            // Same orders, same conversion ⇒ same ε.
            let eps = try accountant.epsilon(
                noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: c.steps, delta: c.delta)
            #expect(abs(eps - c.rdpEpsilon) <= 1e-9 * c.rdpEpsilon, "ε \(eps) vs \(c.rdpEpsilon)")
        }
    }

    /// With fractional orders added, ε can only go down — and stays above the PLD reference.
    @Test func defaultGridIsNoWorseThanIntegerOrders() throws {
        let accountant = RDPAccountant()
        for c in DPAccountingVectors.cases {
            let eps = try accountant.epsilon(
                noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: c.steps, delta: c.delta)
            #expect(eps <= c.rdpEpsilon * (1 + 1e-12))
            #expect(eps >= c.pldEpsilon, "RDP ε \(eps) below the PLD ε \(c.pldEpsilon)")
        }
    }

    /// Our signed series equals the defining integral; dp_accounting's unsigned series does not.
    @Test func fractionalOrdersMatchNumericalIntegration() throws {
        for v in DPAccountingVectors.fractional {
            let ours = try RDPAccountant.rdp(order: v.order, noiseMultiplier: v.sigma, samplingRate: v.samplingRate)
            let simpson = integratedRDP(q: v.samplingRate, sigma: v.sigma, alpha: v.order)
            #expect(
                abs(ours - v.integratedRDP) <= 1e-7 * v.integratedRDP,
                "q=\(v.samplingRate) σ=\(v.sigma) α=\(v.order): ours \(ours), scipy quad \(v.integratedRDP)")
            #expect(
                abs(ours - simpson) <= 1e-7 * simpson, "q=\(v.samplingRate) σ=\(v.sigma) α=\(v.order): ours \(ours), Simpson \(simpson)")
            // The series is truncated at an upper bound, never below.
            #expect(ours >= v.integratedRDP * (1 - 1e-9))
        }
        // Positive control: at α = 1.5 the dropped sign costs dp_accounting 4% to 73%.
        let bad = DPAccountingVectors.fractional.filter { $0.order == 1.5 }
        #expect(bad.count == 3)
        for v in bad { #expect(v.dpAccountingRDP > 1.03 * v.integratedRDP) }
        #expect(bad.contains { $0.dpAccountingRDP > 1.5 * $0.integratedRDP })
    }

    /// Fractional and integer code paths agree as α approaches an integer, and RDP grows with α.
    @Test func fractionalOrdersAreContinuousAndMonotone() throws {
        for (q, z) in [(0.01, 1.0), (0.05, 0.8), (0.3, 3.0)] {
            for n in [2.0, 3.0, 7.0] {
                let atInteger = try RDPAccountant.rdp(order: n, noiseMultiplier: z, samplingRate: q)
                let below = try RDPAccountant.rdp(order: n - 1e-7, noiseMultiplier: z, samplingRate: q)
                let above = try RDPAccountant.rdp(order: n + 1e-7, noiseMultiplier: z, samplingRate: q)
                #expect(below <= atInteger * (1 + 1e-9) && atInteger <= above * (1 + 1e-9))
                #expect(abs(below - atInteger) <= 1e-5 * atInteger && abs(above - atInteger) <= 1e-5 * atInteger)
            }
            var previous = 0.0
            for alpha in RDPConversion.defaultOrders.prefix(120) {
                let r = try RDPAccountant.rdp(order: alpha, noiseMultiplier: z, samplingRate: q)
                #expect(r >= previous * (1 - 1e-12), "RDP not monotone at α=\(alpha)")
                previous = r
            }
        }
    }

    /// Without subsampling the Gaussian's RDP is α/(2z²) and its ε has a closed-form optimum.
    @Test func fullBatchGaussian() throws {
        let r = try RDPAccountant.rdp(order: 3.7, noiseMultiplier: 2, samplingRate: 1)
        #expect(abs(r - 3.7 / 8) < 1e-15)
        let eps = try RDPAccountant().epsilon(noiseMultiplier: 5, samplingRate: 1, steps: 1, delta: 1e-5)
        #expect(eps > 0.5 && eps < 1.2)
    }

    @Test func conversionRoundTrips() throws {
        let accountant = RDPAccountant()
        let eps = try accountant.epsilon(noiseMultiplier: 1.1, samplingRate: 0.01, steps: 5000, delta: 1e-6)
        let delta = try accountant.delta(noiseMultiplier: 1.1, samplingRate: 0.01, steps: 5000, epsilon: eps)
        #expect(delta <= 1e-6 * (1 + 1e-9))
        #expect(delta >= 0.5e-6)
    }

    @Test func badInputIsRejected() {
        let accountant = RDPAccountant()
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0, steps: 10, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 1.5, steps: 10, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 0, samplingRate: 0.1, steps: 10, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: -1, samplingRate: 0.1, steps: 10, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: .nan, samplingRate: 0.1, steps: 10, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0.1, steps: 0, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0.1, steps: 10, delta: 0) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0.1, steps: 10, delta: 1) })
        #expect(accountingRejects { _ = try accountant.delta(noiseMultiplier: 1, samplingRate: 0.1, steps: 10, epsilon: -1) })
        #expect(accountingRejects { _ = try RDPAccountant(orders: [0.5, 2]) })
        #expect(accountingRejects { _ = try RDPAccountant(orders: []) })
        #expect(accountingRejects { _ = try RDPAccountant.rdp(order: 1, noiseMultiplier: 1, samplingRate: 0.1) })
        do {
            _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 2, steps: 10, delta: 1e-5)
        } catch {
            #expect(error.message.contains("sampling rate"))
        }
    }
}
