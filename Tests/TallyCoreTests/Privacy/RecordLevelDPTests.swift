import Testing

@testable import TallyCore

/// Record-level rounds: the encoding's sensitivity on the integers actually sent, its headroom,
/// the secret Poisson sample, and the accountant against dp_accounting.
@Suite struct RecordLevelDPTests {
    static func configuration(parameterCount: Int = 64, batch: Int = 200, valueBits: Int = 30, z: Double = 1) throws
        -> DistributedDPConfiguration
    {
        try DistributedDPConfiguration(
            parameterCount: parameterCount, clipNorm: 1, noiseMultiplier: z, valueBits: valueBits, threshold: 3,
            collusionMargin: 1, cohortSize: 4,
            records: try .init(samplingRate: 0.05, expectedBatchSize: batch))
    }

    /// A vector of norm `norm` in a random direction.
    static func direction(_ count: Int, norm: Double, random: SeededRandom) -> [Double] {
        let raw = (0..<count).map { _ in Double(random.nextWord() >> 11) * 0x1p-53 * 2 - 1 }
        let length = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / length * norm }
    }

    static func l2(_ a: [Int64], _ b: [Int64]) -> Double {
        zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
    }

    @Test func recordLevelEncodingNeverRotatesAndBoundsOneRecordByScaledClipPlusRootD() throws {
        let c = try Self.configuration()
        #expect(c.unit == .record && !c.rotate && c.dimension == 64)
        #expect(abs(c.l2Sensitivity - (c.scale * c.clipNorm + 8)) < 1e-9)
        #expect(c.records!.capacity == 200 + 85 + 1)
        // Organization-level configurations are unchanged by the option.
        let organization = try DistributedDPConfiguration(
            parameterCount: 64, clipNorm: 1, noiseMultiplier: 1, valueBits: 30, threshold: 3, collusionMargin: 1, cohortSize: 4)
        #expect(organization.unit == .organization && organization.rotate && organization.records == nil)
    }

    /// The attack: a record whose gradient is far larger than C shifts the released integers by
    /// more than Δ₂ when it is not clipped (positive control); clipped to C, adding it moves
    /// them by at most Δ₂ whatever the rounding draws, for the same draws on both sides (the
    /// coupling the proof uses).
    @Test func oneRecordMovesTheIntegersSentByAtMostTheSensitivity() throws {
        let c = try Self.configuration()
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let random = SeededRandom(testSeed: 11)
        let zeros = [Int64](repeating: 0, count: c.dimension)
        var base = [Double](repeating: 0, count: c.dimension)
        for _ in 0..<150 {
            for (j, v) in Self.direction(c.dimension, norm: c.clipNorm, random: random).enumerated() { base[j] += v }
        }
        var worst = 0.0
        for trial in 0..<300 {
            // Clipped: norm exactly C; unclipped: 20 C.
            let record = Self.direction(c.dimension, norm: c.clipNorm, random: random)
            let with = zip(base, record).map { $0 + $1 }
            let seed = UInt64(1000 + trial)
            let a = try encoder.encode(base, noise: zeros, random: SeededRandom(testSeed: seed))
            let b = try encoder.encode(with, noise: zeros, random: SeededRandom(testSeed: seed))
            #expect(a.clampedCount == 0 && b.clampedCount == 0)
            worst = max(worst, Self.l2(a.values, b.values) / c.l2Sensitivity)
        }
        #expect(worst <= 1, "a clipped record moved the integers by \(worst) Δ₂")
        #expect(worst > 0.95, "the bound is not tight here (\(worst) Δ₂): the test would not see a wrong one")

        let outlier = Self.direction(c.dimension, norm: 20 * c.clipNorm, random: random)
        let a = try encoder.encode(base, noise: zeros, random: SeededRandom(testSeed: 1))
        let b = try encoder.encode(zip(base, outlier).map { $0 + $1 }, noise: zeros, random: SeededRandom(testSeed: 1))
        #expect(Self.l2(a.values, b.values) > 10 * c.l2Sensitivity)
    }

    /// R records all pointing at one coordinate (the worst case for one slot) still fit without
    /// clamping; more are clamped (a contraction: accuracy only).
    @Test func aFullSampleOnOneCoordinateFitsItsValueBits() throws {
        let c = try Self.configuration(valueBits: 24)
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        var sum = [Double](repeating: 0, count: c.dimension)
        sum[3] = Double(c.records!.capacity) * c.clipNorm
        let zeros = [Int64](repeating: 0, count: c.dimension)
        #expect(try encoder.encode(sum, noise: zeros, random: SeededRandom(testSeed: 2)).clampedCount == 0)
        sum[3] *= 2
        #expect(try encoder.encode(sum, noise: zeros, random: SeededRandom(testSeed: 2)).clampedCount == 1)
        // Sixteen bits cannot hold sums of 41,201 records: refused, naming why.
        #expect {
            _ = try Self.configuration(batch: 40_000, valueBits: 16)
        } throws: { error in
            (error as? TallyError)?.message.contains("records") == true
        }
    }

    @Test func poissonSampleKeepsEachElementWithRateQFromItsOwnRandomness() throws {
        let population = Array(0..<200_000)
        let first = try PoissonSampling.sample(population, rate: 0.1, random: SeededRandom(testSeed: 3))
        let second = try PoissonSampling.sample(population, rate: 0.1, random: SeededRandom(testSeed: 4))
        // Binomial(200000, 0.1): mean 20000, standard deviation 134.
        #expect(abs(first.count - 20_000) < 6 * 134 && abs(second.count - 20_000) < 6 * 134)
        #expect(first != second)
        #expect(first == first.sorted() && Set(first).count == first.count)
        let overlap = Set(first).intersection(second).count
        #expect(abs(overlap - 2_000) < 6 * 45, "two samples overlap in \(overlap) elements, independent ones in about 2000")
        #expect(throws: TallyError.self) { _ = try PoissonSampling.sample(population, rate: 0, random: SeededRandom(testSeed: 5)) }
        #expect(throws: TallyError.self) { _ = try PoissonSampling.sample(population, rate: 1.5, random: SeededRandom(testSeed: 5)) }
    }

    /// The bound budgets enforce for record-level rounds (the subsampled distributed discrete
    /// Gaussian with many shares of large σ², τ negligible) is never below dp_accounting's
    /// Poisson-subsampled Gaussian at the same effective noise multiplier, order by order, and the
    /// ε it gives is within a modest factor of dp_accounting's.
    @Test func subsampledDistributedGaussianNeverBelowDPAccounting() throws {
        for c in DPAccountingVectors.cases where c.samplingRate < 1 && c.steps <= 10_000 {
            let shares = 10, sigmaSquared = 1e6
            let sensitivity = (Double(shares) * sigmaSquared).squareRoot() / c.noiseMultiplier
            let mechanism = try DistributedDiscreteGaussian(
                shareSigmaSquared: sigmaSquared, shares: shares, dimension: 10_000, l2Sensitivity: sensitivity)
            #expect(mechanism.tau * 10_000 < 1e-12)
            var ours: [Double] = []
            for (order, theirs) in zip(DPAccountingVectors.integerOrders, c.rdp) {
                let value = Double(c.steps) * (try mechanism.rdp(order: order, samplingRate: c.samplingRate))
                #expect(
                    value >= theirs * (1 - 1e-9),
                    "z=\(c.noiseMultiplier) q=\(c.samplingRate) α=\(order): ours \(value) < dp_accounting \(theirs)")
                ours.append(value)
            }
            let epsilon = try RDPConversion.epsilon(orders: DPAccountingVectors.integerOrders, rdp: ours, delta: c.delta).epsilon
            #expect(epsilon >= c.rdpEpsilon * (1 - 1e-9))
            #expect(
                epsilon <= 1.5 * c.rdpEpsilon, "z=\(c.noiseMultiplier) q=\(c.samplingRate): ε \(epsilon) vs dp_accounting \(c.rdpEpsilon)")
        }
    }
}
