import Foundation
import Testing

@testable import TallyCore

/// Exact ε of T-fold full-batch Gaussian (sensitivity 1, noise z): the composition is one
/// Gaussian mechanism with noise z/√T, whose δ(ε) = Φ(−εs + 1/(2s)) − e^ε Φ(−εs − 1/(2s)), s = z/√T.
private func exactGaussianEpsilon(z: Double, steps: Int, delta: Double) -> Double {
    let mechanism = SubsampledGaussianMechanism(sigma: z / Double(steps).squareRoot(), samplingRate: 1)
    var lo = 0.0, hi = 1000.0
    for _ in 0..<200 {
        let mid = 0.5 * (lo + hi)
        if mechanism.gaussianDelta(mid) > delta { lo = mid } else { hi = mid }
    }
    return hi
}

@Suite struct AccountantPLDTests {
    /// Our ε sits in [theirs·(1 − 1e-6), theirs·1.005] for every reference case.
    @Test func epsilonMatchesDPAccountingFromAbove() throws {
        let accountant = PLDAccountant()
        for c in DPAccountingVectors.cases {
            let start = ContinuousClock.now
            let eps = try accountant.epsilon(
                noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: c.steps, delta: c.delta)
            let elapsed = ContinuousClock.now - start
            print(
                "PLD z=\(c.noiseMultiplier) q=\(c.samplingRate) T=\(c.steps): ours \(eps), dp_accounting \(c.pldEpsilon), ratio \(eps / c.pldEpsilon), \(elapsed)"
            )
            #expect(eps >= c.pldEpsilon * (1 - 1e-6), "z=\(c.noiseMultiplier) q=\(c.samplingRate) T=\(c.steps): \(eps) < \(c.pldEpsilon)")
            #expect(eps <= c.pldEpsilon * 1.005, "z=\(c.noiseMultiplier) q=\(c.samplingRate) T=\(c.steps): \(eps) > 1.005·\(c.pldEpsilon)")
        }
    }

    @Test func deltaMatchesDPAccountingFromAbove() throws {
        let accountant = PLDAccountant()
        for c in DPAccountingVectors.cases.prefix(3) {
            let pld = try accountant.privacyLossDistribution(
                noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: c.steps)
            for (epsilon, theirs) in c.pldDeltas where theirs > 1e-12 {
                let ours = try pld.delta(epsilon: epsilon)
                #expect(ours >= theirs * (1 - 1e-6), "δ(\(epsilon)) \(ours) < \(theirs)")
                #expect(ours <= theirs * 1.05, "δ(\(epsilon)) \(ours) > 1.05·\(theirs)")
            }
            // ε(δ) and δ(ε) are inverse to each other.
            let eps = try pld.epsilon(delta: c.delta)
            #expect(try pld.delta(epsilon: eps) <= c.delta * (1 + 1e-9))
            #expect(try pld.delta(epsilon: max(0, eps - 1e-3)) > c.delta)
        }
    }

    /// Full batch: the exact answer is known in closed form, and we are never below it.
    @Test(arguments: [(2.0, 10), (1.0, 1), (0.7, 50), (5.0, 300)])
    func neverBelowExactGaussian(z: Double, steps: Int) throws {
        for delta in [1e-3, 1e-5, 1e-8] {
            let exact = exactGaussianEpsilon(z: z, steps: steps, delta: delta)
            let ours = try PLDAccountant().epsilon(noiseMultiplier: z, samplingRate: 1, steps: steps, delta: delta)
            #expect(ours >= exact, "z=\(z) T=\(steps) δ=\(delta): \(ours) < exact \(exact)")
            #expect(ours <= exact * 1.001 + 1e-4, "z=\(z) T=\(steps) δ=\(delta): \(ours) vs exact \(exact)")
        }
    }

    /// Single-round curves: connect-the-dots reproduces the mechanism's δ at grid points and lies
    /// above it in between (both adjacencies, with subsampling).
    @Test func singleRoundDominatesMechanism() throws {
        let mechanism = SubsampledGaussianMechanism(sigma: 0.9, samplingRate: 0.05)
        for adjacency in [SubsampledGaussianMechanism.Adjacency.remove, .add] {
            let pmf = try mechanism.connectTheDots(adjacency, interval: 1e-3)
            let total = pmf.probabilities.reduce(0, +) + pmf.infinityMass
            #expect(total >= 1 - 1e-12 && total <= 1 + 1e-8) // clamping the κ-inflated curve may add ≤ κ
            for eps in stride(from: 0.0, through: 3.0, by: 0.01234) {
                let exact = mechanism.delta(eps, adjacency)
                let discrete = pmf.delta(epsilon: eps)
                #expect(discrete >= exact * (1 - 1e-9), "\(adjacency) ε=\(eps): \(discrete) < \(exact)")
                // Between grid points the interpolation stays below the curve's value at the left point.
                let left = (eps / 1e-3).rounded(.down) * 1e-3
                #expect(discrete <= mechanism.delta(left, adjacency) * (1 + 1e-9) + 1e-15, "\(adjacency) ε=\(eps): \(discrete) too large")
            }
            for i in [3, 50, 400] {
                let eps = Double(i) * 1e-3
                let exact = mechanism.delta(eps, adjacency)
                #expect(abs(pmf.delta(epsilon: eps) - exact) <= 1e-9 * exact + 1e-15, "\(adjacency) grid point ε=\(eps)")
            }
        }
    }

    /// Composing round by round equals composing all at once (up to the truncated tails), and
    /// heterogeneous schedules compose.
    @Test func compositionIsConsistent() throws {
        let accountant = PLDAccountant()
        let ten = try accountant.privacyLossDistribution(noiseMultiplier: 1.0, samplingRate: 0.05, steps: 10)
        let twenty = try accountant.privacyLossDistribution(noiseMultiplier: 1.0, samplingRate: 0.05, steps: 20)
        let tenTwice = try ten.composed(with: ten)
        let a = try twenty.epsilon(delta: 1e-5), b = try tenTwice.epsilon(delta: 1e-5)
        #expect(abs(a - b) <= 1e-6 * a, "\(a) vs \(b)")
        let mixed = try ten.composed(with: accountant.privacyLossDistribution(noiseMultiplier: 2.0, samplingRate: 1, steps: 3))
        let mixedEps = try mixed.epsilon(delta: 1e-5)
        #expect(mixedEps > a * 0.5 && mixedEps.isFinite)
        #expect(try ten.selfComposed(times: 2).epsilon(delta: 1e-5) >= a * (1 - 1e-6))
    }

    @Test func rdpIsNeverTighterThanPLD() throws {
        for (z, q, t) in [(1.0, 0.01, 300), (0.6, 0.1, 20), (3.0, 1.0, 5)] {
            let pld = try PLDAccountant().epsilon(noiseMultiplier: z, samplingRate: q, steps: t, delta: 1e-6)
            let rdp = try RDPAccountant().epsilon(noiseMultiplier: z, samplingRate: q, steps: t, delta: 1e-6)
            #expect(rdp >= pld, "z=\(z) q=\(q) T=\(t): RDP \(rdp) < PLD \(pld)")
        }
    }

    @Test func badInputIsRejected() throws {
        let accountant = PLDAccountant()
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0, steps: 1, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 1.01, steps: 1, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 0, samplingRate: 0.5, steps: 1, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0.5, steps: 0, delta: 1e-5) })
        #expect(accountingRejects { _ = try accountant.epsilon(noiseMultiplier: 1, samplingRate: 0.5, steps: 1, delta: 1.5) })
        #expect(accountingRejects { _ = try accountant.delta(noiseMultiplier: 1, samplingRate: 0.5, steps: 1, epsilon: .infinity) })
        #expect(accountingRejects { _ = try PLDAccountant(discretization: 0) })
        #expect(accountingRejects { _ = try PLDAccountant(discretization: 1e-4, tailMassTruncation: 0.1) })
        // A grid far too fine for the noise is refused, not allocated.
        #expect(
            accountingRejects {
                _ = try PLDAccountant(discretization: 1e-6).epsilon(noiseMultiplier: 0.05, samplingRate: 1, steps: 1, delta: 1e-5)
            })
        let coarse = try PLDAccountant(discretization: 1e-2)
        let pldA = try coarse.privacyLossDistribution(noiseMultiplier: 1, samplingRate: 1, steps: 1)
        let pldB = try accountant.privacyLossDistribution(noiseMultiplier: 1, samplingRate: 1, steps: 1)
        #expect(accountingRejects { _ = try pldA.composed(with: pldB) })
    }
}
