import Testing
@testable import TallyCore

#if canImport(Glibc)
import Glibc
#endif

@Suite struct DistributedDPTests {
    private func vector(_ count: Int, norm: Double, random: SeededRandom) -> [Float] {
        let raw = (0..<count).map { _ in Double(random.nextWord() >> 11) * 0x1p-53 * 2 - 1 }
        let length = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { Float($0 / length * norm) }
    }

    private func l2(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    @Test func rotationIsOrthonormalAndInverts() throws {
        let rotation = try RandomizedHadamard(dimension: 1024, seed: [UInt8](repeating: 7, count: 32))
        let random = SeededRandom(testSeed: 1)
        let x = vector(1024, norm: 3, random: random).map(Double.init)
        var y = x
        rotation.rotate(&y)
        #expect(abs(l2(y) - l2(x)) < 1e-9)
        #expect(zip(x, y).contains { abs($0 - $1) > 1e-3 })
        rotation.unrotate(&y)
        #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-12 })
        // A spike is spread evenly: every coordinate becomes ±1/√d.
        var spike = [Double](repeating: 0, count: 1024)
        spike[5] = 1
        rotation.rotate(&spike)
        #expect(spike.allSatisfy { abs(abs($0) - 1 / 32) < 1e-12 })
        #expect(throws: TallyError.self) { try RandomizedHadamard(dimension: 1000, seed: [UInt8](repeating: 0, count: 32)) }
    }

    @Test(arguments: [(7_850, 1.0, 16, 3, 5), (1_000_000, 1.0, 20, 6, 10), (100, 0.5, 12, 2, 2), (7_850, 0.0, 16, 3, 5)])
    func parametersFitTheSlotAndCarryTheNoise(parameters: Int, z: Double, bits: Int, t: Int, n: Int) throws {
        let c = try DistributedDPConfiguration(parameterCount: parameters, clipNorm: 0.5, noiseMultiplier: z,
                                               valueBits: bits, threshold: t, cohortSize: n)
        #expect(c.dimension >= parameters && c.dimension & (c.dimension - 1) == 0)
        let scaledClip = c.scale * c.clipNorm
        #expect(c.l2Sensitivity >= scaledClip)
        #expect(c.l2Sensitivity <= scaledClip + Double(c.dimension).squareRoot())
        let sigma = c.shareSigmaSquared.squareRoot()
        let extent = c.headroomSigmas * scaledClip / Double(c.dimension).squareRoot() + 1 + c.headroomSigmas * sigma
        #expect(extent <= Double(c.clampBound) + 1e-6)
        #expect(extent > Double(c.clampBound) * 0.999)  // the scale is as fine as the bits allow
        // Any t shares carry at least z·Δ₂.
        #expect(c.effectiveNoiseMultiplier(shares: t) >= z * (1 - 1e-12))
        #expect(c.deltaClamp <= 1e-9 * (1 + 1e-9) && c.deltaClamp > 0)
    }

    @Test func tooFewBitsForTheNoiseIsRefused() {
        #expect(throws: TallyError.self) {
            try DistributedDPConfiguration(parameterCount: 1 << 20, clipNorm: 1, noiseMultiplier: 5, valueBits: 8, threshold: 2, cohortSize: 4)
        }
    }

    @Test func encodingClipsRoundsWithinTheBoundAndDecodes() throws {
        let c = try DistributedDPConfiguration(parameterCount: 500, clipNorm: 1, noiseMultiplier: 0, valueBits: 16, threshold: 2, cohortSize: 3)
        let seed = DistributedDPConfiguration.rotationSeed(planDigest: [UInt8](repeating: 1, count: 32))
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: seed)
        let decoder = try DistributedDPDecoder(configuration: c, rotationSeed: seed)
        let random = SeededRandom(testSeed: 2)
        for norm in [0.3, 0.999, 40.0] {
            let update = vector(500, norm: norm, random: random)
            let encoding = try encoder.encode(update, random: random)
            #expect(encoding.clipped == (norm > 1))
            #expect(encoding.clampedCount == 0)
            #expect(encoding.values.allSatisfy { $0 < 1 << 16 })
            let decoded = try decoder.decodeSum(encoding.values, contributors: 1)
            // Decoded = clipped update up to rounding (≤ √d/2 in scaled units at worst).
            let expected = update.map { Double($0) * min(1, 1 / norm) }
            let error = l2(zip(decoded, expected).map { $0 - $1 })
            #expect(error * c.scale <= Double(c.dimension).squareRoot())
            #expect(error < 1e-3)
            // The rounded vector respects the sensitivity the ledger records (padding included).
            let rounded = encoding.values.map { Double(Int64($0) - Int64(c.offset)) }
            #expect(l2(rounded) <= c.l2Sensitivity * (1 + 1e-12))
        }
        #expect(throws: TallyError.self) { try encoder.encode([Float](repeating: .nan, count: 500), random: random) }
        #expect(throws: TallyError.self) { try encoder.encode([Float](repeating: 0, count: 499), random: random) }
    }

    /// The decoded sum's error is the sum of the shares over the scale: mean 0 and variance
    /// m·σ²/s² per coordinate (rounding adds at most m/(4s²), negligible here).
    @Test func decodedErrorMatchesTheNoiseTheory() throws {
        let parameters = 128, n = 5, t = 3, trials = 300
        let c = try DistributedDPConfiguration(parameterCount: parameters, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: t, cohortSize: n)
        let random = SeededRandom(testSeed: 3)
        let updates = (0..<n).map { _ in vector(parameters, norm: 0.8, random: random) }
        for m in [n, t] {  // all survive; only t survive
            var errors: [Double] = []
            errors.reserveCapacity(trials * parameters)
            for trial in 0..<trials {
                var digest = [UInt8](repeating: 0, count: 32)
                digest[0] = UInt8(trial & 255)
                digest[1] = UInt8(trial >> 8)
                let seed = DistributedDPConfiguration.rotationSeed(planDigest: digest)
                let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: seed)
                var sum = [UInt64](repeating: 0, count: c.dimension)
                for update in updates.prefix(m) {
                    let values = try encoder.encode(update, random: random).values
                    for i in 0..<c.dimension { sum[i] += values[i] }
                }
                let decoded = try DistributedDPDecoder(configuration: c, rotationSeed: seed).decodeSum(sum, contributors: m)
                let expected = (0..<parameters).map { i in updates.prefix(m).reduce(0.0) { $0 + Double($1[i]) } }
                errors.append(contentsOf: zip(decoded, expected).map { $0 - $1 })
            }
            let count = Double(errors.count)
            let mean = errors.reduce(0, +) / count
            let variance = errors.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (count - 1)
            let predicted = Double(m) * c.shareSigmaSquared / (c.scale * c.scale)
            #expect(abs(mean) < 4 * (predicted / count).squareRoot(), "mean \(mean) with m = \(m)")
            // Relative standard error of a variance estimate: √(2/N) ≈ 0.8% here.
            #expect(abs(variance / predicted - 1) < 0.04, "variance \(variance), predicted \(predicted), m = \(m)")
            // Positive control: one share more or fewer would be visibly wrong.
            let other = Double(m - 1) * c.shareSigmaSquared / (c.scale * c.scale)
            #expect(abs(variance / other - 1) > 0.12)
            // The noise standard deviation is at least z·C in model units whenever m ≥ t.
            #expect(variance.squareRoot() >= c.noiseMultiplier * c.clipNorm * 0.97)
        }
    }

    @Test func roundingAloneIsUnbiased() throws {
        let parameters = 64, trials = 2_000
        let c = try DistributedDPConfiguration(parameterCount: parameters, clipNorm: 1, noiseMultiplier: 0, valueBits: 8, threshold: 1, cohortSize: 1, rotate: false)
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let decoder = try DistributedDPDecoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let random = SeededRandom(testSeed: 4)
        let update = vector(parameters, norm: 0.9, random: random)
        var total = [Double](repeating: 0, count: parameters)
        for _ in 0..<trials {
            let decoded = try decoder.decodeSum(try encoder.encode(update, random: random).values, contributors: 1)
            for i in 0..<parameters { total[i] += decoded[i] }
        }
        let step = 1 / c.scale
        for i in 0..<parameters {
            // Bernoulli rounding: standard error ≤ step/(2√trials); allow 5 of them.
            #expect(abs(total[i] / Double(trials) - Double(update[i])) < 5 * step / (2 * Double(trials).squareRoot()))
        }
    }
}
