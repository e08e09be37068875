import Foundation
import Testing

@testable import TallyCore

@Suite struct AccountantDiscreteGaussianTests {
    /// One share: τ = 0 and the bound is the discrete Gaussian's α·Δ²/(2σ²) (= the Gaussian's).
    @Test func singleShareIsTheDiscreteGaussian() throws {
        let ddg = try DistributedDiscreteGaussian(shareSigmaSquared: 100, shares: 1, dimension: 1000, l2Sensitivity: 12)
        #expect(ddg.tau == 0)
        for alpha in [1.5, 2.0, 10.0, 64.0] {
            #expect(abs(try ddg.rdp(order: alpha) - alpha * 144 / 200) < 1e-12)
        }
        // And its ε equals the RDP accountant's for the Gaussian with z = σ/Δ.
        let eps = try ddg.epsilon(steps: 7, delta: 1e-6)
        let gaussian = try RDPAccountant().epsilon(noiseMultiplier: 10.0 / 12.0, samplingRate: 1, steps: 7, delta: 1e-6)
        #expect(abs(eps - gaussian) < 1e-9 * gaussian)
    }

    /// τ and the three-way minimum, recomputed independently (Kairouz–Liu–Steinke, Prop. 14).
    @Test func formulaForSeveralShares() throws {
        let sigma2 = 0.36, n = 5, d = 64, l2 = 3.0, l1 = 11.0
        let ddg = try DistributedDiscreteGaussian(shareSigmaSquared: sigma2, shares: n, dimension: d, l2Sensitivity: l2, l1Sensitivity: l1)
        let tau = 10 * (1..<n).reduce(0.0) { $0 + exp(-2 * Double.pi * Double.pi * sigma2 * Double($1) / Double($1 + 1)) }
        #expect(abs(ddg.tau - tau) <= 1e-15 * tau)
        #expect(tau > 1e-3) // small σ: the sum is visibly not a discrete Gaussian
        let ns2 = Double(n) * sigma2
        for alpha in [1.0, 2.0, 7.5, 100.0] {
            let a = alpha * l2 * l2 / (2 * ns2) + tau * Double(d)
            let b = alpha / 2 * (l2 * l2 / ns2 + 2 * l1 * tau / ns2.squareRoot() + tau * tau * Double(d))
            let c = alpha / 2 * pow(l2 / ns2.squareRoot() + tau * Double(d).squareRoot(), 2)
            #expect(abs(try ddg.rdp(order: alpha) - min(a, b, c)) <= 1e-12 * min(a, b, c))
            #expect(try ddg.rdp(order: alpha) >= alpha * l2 * l2 / (2 * ns2)) // never better than the continuous Gaussian
        }
        // With a large σ the correction vanishes (e^{−2π²·4·1/2} ≈ 7e-18 per share).
        let wide = try DistributedDiscreteGaussian(shareSigmaSquared: 4, shares: 1000, dimension: 10, l2Sensitivity: 2)
        #expect(wide.tau < 1e-13)
        #expect(abs(try wide.rdp(order: 3) - 3 * 4 / (2 * 4000.0)) < 1e-12)
    }

    /// Subsampling: the general Zhu–Wang bound never beats the exact subsampled Gaussian, and
    /// never exceeds the unsubsampled bound.
    @Test func subsampledBoundIsBetweenExactAndUnsampled() throws {
        let ddg = try DistributedDiscreteGaussian(shareSigmaSquared: 2500, shares: 10, dimension: 100, l2Sensitivity: 50)
        // τ ≈ 0 here, so this is the Gaussian with z = √(n σ²)/Δ = √25000/50.
        let z = (10 * 2500.0).squareRoot() / 50
        for alpha in [2.0, 3.0, 8.0, 32.0] {
            for q in [0.01, 0.1, 0.5] {
                let bound = try ddg.rdp(order: alpha, samplingRate: q)
                let exact = try RDPAccountant.rdp(order: alpha, noiseMultiplier: z, samplingRate: q)
                #expect(bound >= exact * (1 - 1e-9), "α=\(alpha) q=\(q): \(bound) < exact \(exact)")
                let unsampled = try ddg.rdp(order: alpha)
                #expect(bound <= unsampled * (1 + 1e-12))
            }
        }
        #expect(try ddg.rdp(order: 2.5, samplingRate: 0.1) == (try ddg.rdp(order: 3, samplingRate: 0.1)))
        #expect(try ddg.epsilon(samplingRate: 0.1, steps: 100, delta: 1e-5) < (try ddg.epsilon(steps: 100, delta: 1e-5)))
    }

    @Test func badParametersAreRejected() {
        #expect(
            accountingRejects { _ = try DistributedDiscreteGaussian(shareSigmaSquared: 0.2, shares: 3, dimension: 1, l2Sensitivity: 1) })
        #expect(accountingRejects { _ = try DistributedDiscreteGaussian(shareSigmaSquared: 1, shares: 0, dimension: 1, l2Sensitivity: 1) })
        #expect(accountingRejects { _ = try DistributedDiscreteGaussian(shareSigmaSquared: 1, shares: 1, dimension: 0, l2Sensitivity: 1) })
        #expect(accountingRejects { _ = try DistributedDiscreteGaussian(shareSigmaSquared: 1, shares: 1, dimension: 1, l2Sensitivity: -1) })
        #expect(
            accountingRejects {
                let ddg = try DistributedDiscreteGaussian(shareSigmaSquared: 1, shares: 1, dimension: 1, l2Sensitivity: 1)
                _ = try ddg.rdp(order: 0.5)
            })
    }
}
