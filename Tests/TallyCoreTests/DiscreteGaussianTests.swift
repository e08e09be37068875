import Foundation
import Testing

@testable import TallyCore

/// Pearson's χ² of observed counts against the exact discrete Gaussian pmf, with cells merged
/// so every expected count is at least 20.
private func chiSquare(samples: [Int64], sigma: Double, binWidth: Int) -> (statistic: Double, degreesOfFreedom: Int) {
    let radius = Int((sigma * 40).rounded(.up)) + 2
    let weights = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
    let total = weights.reduce(0, +)
    let n = Double(samples.count)
    // Cells of `binWidth` consecutive integers, then merge until expected ≥ 20.
    var cellOf: [Int: Int] = [:]
    var expected: [Double] = []
    var current = 0.0
    var members: [Int] = []
    for (offset, w) in weights.enumerated() {
        current += w / total * n
        members.append(offset - radius)
        if current >= 20 && members.count >= binWidth {
            for m in members { cellOf[m] = expected.count }
            expected.append(current)
            current = 0; members = []
        }
    }
    for m in members { cellOf[m] = expected.count - 1 }
    expected[expected.count - 1] += current
    var observed = [Double](repeating: 0, count: expected.count)
    for s in samples { observed[cellOf[Int(s)] ?? (s < 0 ? 0 : expected.count - 1)] += 1 }
    let statistic = zip(observed, expected).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / $1.1 }
    return (statistic, expected.count - 1)
}

/// Upper 10^-4 quantile of χ²_k (Wilson–Hilferty).
private func chiSquareCritical(_ k: Int) -> Double {
    let z = 3.719
    let a = 2.0 / (9.0 * Double(k))
    return Double(k) * pow(1 - a + z * a.squareRoot(), 3)
}

@Suite struct DiscreteGaussianTests {
    @Test(arguments: [(0.5, 1), (3.0, 1), (1000.0, 50)])
    func matchesExactPMF(sigma: Double, binWidth: Int) throws {
        let sampler = try DiscreteGaussianSampler(sigma: sigma)
        let rng = SeededRandom(testSeed: UInt64(sigma * 1000))
        let samples = sampler.sample(count: 1_000_000, using: rng)

        let (statistic, dof) = chiSquare(samples: samples, sigma: sigma, binWidth: binWidth)
        #expect(statistic < chiSquareCritical(dof), "χ² = \(statistic) on \(dof) dof at σ = \(sigma)")

        // Positive control: the same samples are clearly not from a 5% wider distribution.
        let (wrong, wrongDof) = chiSquare(samples: samples, sigma: sigma * 1.05, binWidth: binWidth)
        #expect(wrong > chiSquareCritical(wrongDof), "control χ² = \(wrong) should reject σ·1.05")

        // Mean ≈ 0 and variance ≈ the exact variance of N_Z(0, σ²) (slightly below σ² for small σ).
        let radius = Int(sigma * 40) + 2
        let w = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let z = w.reduce(0, +)
        let variance = zip(-radius...radius, w).reduce(0.0) { $0 + Double($1.0 * $1.0) * $1.1 / z }
        let n = Double(samples.count)
        let mean = samples.reduce(0.0) { $0 + Double($1) } / n
        let sampleVariance = samples.reduce(0.0) { $0 + Double($1) * Double($1) } / n - mean * mean
        #expect(abs(mean) < 5 * (variance / n).squareRoot())
        #expect(abs(sampleVariance - variance) < 5 * variance * (2 / n).squareRoot() + 1e-9)
    }

    @Test func exactRationalParameters() throws {
        let s = try DiscreteGaussianSampler(sigmaSquaredNumerator: 1, sigmaSquaredDenominator: 4)
        #expect(s.laplaceScale == 1) // ⌊0.5⌋ + 1
        #expect(try DiscreteGaussianSampler(sigmaSquaredNumerator: 1_000_000).laplaceScale == 1001)
        #expect(try DiscreteGaussianSampler(sigmaSquaredNumerator: 15).laplaceScale == 4) // ⌊√15⌋ = 3
        #expect(try DiscreteGaussianSampler(sigmaSquaredNumerator: 16).laplaceScale == 5)
        #expect(throws: TallyError.self) { try DiscreteGaussianSampler(sigma: 0) }
        #expect(throws: TallyError.self) { try DiscreteGaussianSampler(sigma: .nan) }
    }
}
