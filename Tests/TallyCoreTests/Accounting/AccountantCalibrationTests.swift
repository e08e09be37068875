import Testing

@testable import TallyCore

@Suite struct AccountantCalibrationTests {
    @Test(arguments: [(1.0, 0.01, 1000), (4.0, 0.05, 100), (2.0, 1.0, 10), (0.5, 0.001, 100_000)])
    func rdpCalibrationRoundTrips(target: Double, q: Double, steps: Int) throws {
        let accountant = RDPAccountant()
        let result = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: target, delta: 1e-5, samplingRate: q, steps: steps,
            accountant: accountant, relativeTolerance: 1e-4)
        let eps = try accountant.epsilon(noiseMultiplier: result.noiseMultiplier, samplingRate: q, steps: steps, delta: 1e-5)
        #expect(eps == result.epsilon)
        #expect(eps <= target, "ε(z*) = \(eps) exceeds the target \(target)")
        // Minimal: a slightly smaller multiplier misses the target.
        let smaller = try accountant.epsilon(
            noiseMultiplier: result.noiseMultiplier * (1 - 2e-4), samplingRate: q, steps: steps, delta: 1e-5)
        #expect(smaller > target, "z* = \(result.noiseMultiplier) is not minimal")
    }

    @Test func pldCalibrationRoundTripsAndNeedsLessNoise() throws {
        let pld = try PLDAccountant(discretization: 1e-3)
        let target = 3.0, q = 0.05, steps = 50
        let result = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: target, delta: 1e-5, samplingRate: q, steps: steps,
            accountant: pld, relativeTolerance: 1e-3)
        #expect(result.epsilon <= target)
        #expect(try pld.epsilon(noiseMultiplier: result.noiseMultiplier, samplingRate: q, steps: steps, delta: 1e-5) <= target)
        #expect(try pld.epsilon(noiseMultiplier: result.noiseMultiplier * (1 - 2e-3), samplingRate: q, steps: steps, delta: 1e-5) > target)
        let rdp = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: target, delta: 1e-5, samplingRate: q, steps: steps,
            accountant: RDPAccountant(), relativeTolerance: 1e-3)
        #expect(result.noiseMultiplier <= rdp.noiseMultiplier)
    }

    @Test func badTargetsAreRejected() {
        let accountant = RDPAccountant()
        #expect(
            accountingRejects {
                _ = try NoiseCalibration.noiseMultiplier(
                    targetEpsilon: 0, delta: 1e-5, samplingRate: 0.1, steps: 10, accountant: accountant)
            })
        #expect(
            accountingRejects {
                _ = try NoiseCalibration.noiseMultiplier(targetEpsilon: 1, delta: 0, samplingRate: 0.1, steps: 10, accountant: accountant)
            })
        #expect(
            accountingRejects {
                _ = try NoiseCalibration.noiseMultiplier(targetEpsilon: 1, delta: 1e-5, samplingRate: 0, steps: 10, accountant: accountant)
            })
        #expect(
            accountingRejects {
                _ = try NoiseCalibration.noiseMultiplier(targetEpsilon: 1, delta: 1e-5, samplingRate: 0.1, steps: 0, accountant: accountant)
            })
        // ε = 1e-6 over 10^6 full-batch rounds needs z ≫ 10^4.
        #expect(
            accountingRejects {
                _ = try NoiseCalibration.noiseMultiplier(
                    targetEpsilon: 1e-6, delta: 1e-5, samplingRate: 1, steps: 1_000_000, accountant: accountant)
            })
    }
}
