import Testing

@testable import TallyCore
@testable import TallyModel

/// Record-level rounds' clipped gradient sums, for both built-in models: what they sum, that one
/// record moves the sum (and the integers sent) by at most the bound, and that without per-record
/// clipping one outlier record moves it far more (the positive control).
@Suite struct RecordGradientsTests {
    static let specs: [ModelSpec] = [
        .logisticRegression(featureCount: 6, classCount: 3),
        .multilayerPerceptron(featureCount: 6, hidden: [5], activation: .relu, classCount: 3),
    ]

    /// Uniform features in [-1, 1) and one outlier, record 0, whose features are 1000 times larger.
    static func data(count: Int = 40) throws -> Dataset {
        var random = SimulationRandom(seed: 7)
        var features = (0..<(count * 6)).map { _ in Float(random.unitInterval() * 2 - 1) }
        for j in 0..<6 { features[j] *= 1000 }
        return try Dataset(features: features, labels: (0..<count).map { UInt8($0 % 3) }, featureCount: 6, classCount: 3)
    }

    static func model(_ spec: ModelSpec) throws -> ModelState {
        var random = SimulationRandom(seed: 8)
        let count = try spec.layout.parameterCount
        return ModelState(spec: spec, parameters: (0..<count).map { _ in Float(random.standardNormal() * 0.5) })
    }

    static func norm(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }

    @Test(arguments: specs)
    func theSumIsTheSumOfEachRecordsClippedGradient(spec: ModelSpec) throws {
        let data = try Self.data(), model = try Self.model(spec)
        let indices = Array(0..<40)
        let single = try indices.map { try model.clippedGradientSum(on: data, indices: [$0], clipNorm: 1e30).sum }
        let lengths = single.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let clip = lengths.sorted()[20] * 1.001
        let sum = try model.clippedGradientSum(on: data, indices: indices, clipNorm: clip)
        var expected = [Double](repeating: 0, count: model.parameterCount)
        var clipped = 0
        for (one, length) in zip(single, lengths) {
            if length > clip { clipped += 1 }
            let factor = min(1, clip / length)
            for p in expected.indices { expected[p] += factor * one[p] }
        }
        #expect(sum.records == 40 && sum.clipped == clipped && clipped > 0 && clipped < 40)
        #expect(Self.norm(sum.sum, expected) <= 1e-4 * expected.reduce(0) { $0 + abs($1) })
    }

    @Test(arguments: specs)
    func oneRecordMovesTheSumAndTheIntegersSentByAtMostTheBound(spec: ModelSpec) throws {
        let data = try Self.data(), model = try Self.model(spec)
        let all = Array(0..<40), without = Array(1..<40), clip = 0.5
        let a = try model.clippedGradientSum(on: data, indices: all, clipNorm: clip).sum
        let b = try model.clippedGradientSum(on: data, indices: without, clipNorm: clip).sum
        let moved = Self.norm(a, b)
        #expect(moved <= clip && moved > 0.99 * clip, "the outlier record moved the clipped sum by \(moved), C = \(clip)")

        // The same through the encoding, with the rounding's draws shared: within Δ₂.
        let privacy = try DistributedDPConfiguration(
            parameterCount: model.parameterCount, clipNorm: clip, noiseMultiplier: 1, valueBits: 30, threshold: 2,
            collusionMargin: 0, cohortSize: 3, records: try .init(samplingRate: 0.5, expectedBatchSize: 20))
        let encoder = try DistributedDPEncoder(configuration: privacy, rotationSeed: [UInt8](repeating: 0, count: 32))
        let zeros = [Int64](repeating: 0, count: privacy.dimension)
        for seed in UInt64(0)..<50 {
            let x = try encoder.encode(a, noise: zeros, random: SeededRandom(testSeed: seed)).values
            let y = try encoder.encode(b, noise: zeros, random: SeededRandom(testSeed: seed)).values
            let distance = zip(x, y).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            #expect(distance <= privacy.l2Sensitivity)
        }

        // Positive control: without per-record clipping the outlier alone moves the sum by far
        // more than C.
        let unclippedA = try model.clippedGradientSum(on: data, indices: all, clipNorm: 1e30).sum
        let unclippedB = try model.clippedGradientSum(on: data, indices: without, clipNorm: 1e30).sum
        #expect(Self.norm(unclippedA, unclippedB) > 20 * clip)
    }

    @Test func externalAndFlatModelsHaveNoRecordGradients() throws {
        let data = try Self.data()
        let flat = try ModelState.zeros(.flat(dimension: 4))
        #expect {
            _ = try flat.clippedGradientSum(on: data, indices: [0], clipNorm: 1)
        } throws: { ($0 as? TallyError)?.message.contains("built-in") == true }
        #expect(ClippedGradientSum.margin(records: 1 << 20) < 1e-3)
    }
}
