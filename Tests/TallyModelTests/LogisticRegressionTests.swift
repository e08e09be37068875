import Foundation
import TallyCore
import Testing

@testable import TallyModel

@Suite struct ModelLogisticRegressionTests {
    @Test func untrainedModelIsAtChance() throws {
        let (_, test) = try ModelTestData.load()
        let model = LogisticRegression()
        #expect(model.parameterCount == 7_850 && model.parameters.count == 7_850)
        #expect(abs(try model.accuracy(on: test) - 0.1) < 0.02)
        #expect(abs(try model.loss(on: test) - log(10)) < 1e-6)
    }

    @Test func oneEpochOfSGDLearnsFashionMNIST() throws {
        let (train, test) = try ModelTestData.load()
        var model = LogisticRegression()
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            try model.train(on: train, epochs: 1, batchSize: 32, learningRate: 0.2, seed: 1)
        }
        let accuracy = try model.accuracy(on: test)
        print("logistic regression: 1 epoch on \(train.count) examples in \(elapsed), test accuracy \(accuracy)")
        #expect(accuracy >= 0.78)
        #expect(try model.loss(on: test) < 0.7)
        #expect(try model.predictions(on: test, indices: [0, 1, 2]) == (0..<3).map { try model.predict(features: test.features(of: $0)) })
    }

    /// One full-batch step must equal the gradient of the mean cross-entropy computed naively
    /// in Double — this checks the softmax, the gradient and the update direction and scale.
    @Test func fullBatchStepMatchesANaiveGradient() throws {
        let f = 5, c = 3, n = 7
        let random = SeededRandom(testSeed: 21)
        func uniform() -> Float { Float(random.nextWord() >> 40) / Float(1 << 24) * 2 - 1 }
        let features = (0..<(n * f)).map { _ in uniform() }
        let labels = (0..<n).map { UInt8($0 % c) }
        let data = try Dataset(features: features, labels: labels, featureCount: f, classCount: c)
        let start = (0..<(c * (f + 1))).map { _ in uniform() }
        var model = try LogisticRegression(featureCount: f, classCount: c, parameters: start)
        let rate: Float = 0.5
        try model.train(on: data, epochs: 1, batchSize: n, learningRate: rate, seed: 5)

        var expected = start.map(Double.init)
        var gradient = [Double](repeating: 0, count: expected.count)
        for i in 0..<n {
            let scores = (0..<c).map { k in
                Double(start[c * f + k]) + (0..<f).reduce(0.0) { $0 + Double(start[k * f + $1]) * Double(features[i * f + $1]) }
            }
            let z = scores.map { exp($0) }.reduce(0, +)
            for k in 0..<c {
                let delta = exp(scores[k]) / z - (Int(labels[i]) == k ? 1 : 0)
                for j in 0..<f { gradient[k * f + j] += delta * Double(features[i * f + j]) / Double(n) }
                gradient[c * f + k] += delta / Double(n)
            }
        }
        for k in expected.indices { expected[k] -= Double(rate) * gradient[k] }
        for (got, want) in zip(model.parameters, expected) {
            #expect(abs(Double(got) - want) < 1e-5)
        }
    }

    @Test func trainingIsDeterministicPerSeedAndRespectsIndices() throws {
        let (train, _) = try ModelTestData.load()
        let subset = Array(stride(from: 0, to: 6_000, by: 3))
        var a = LogisticRegression(), b = LogisticRegression(), c = LogisticRegression()
        try a.train(on: train, indices: subset, epochs: 2, batchSize: 16, learningRate: 0.1, seed: 8)
        try b.train(on: train, indices: subset, epochs: 2, batchSize: 16, learningRate: 0.1, seed: 8)
        try c.train(on: train, indices: subset, epochs: 2, batchSize: 16, learningRate: 0.1, seed: 9)
        #expect(a == b)
        #expect(a != c)
        // Training on an explicit subset equals training on that subset as its own dataset.
        var d = LogisticRegression()
        try d.train(on: try train.subset(subset), epochs: 2, batchSize: 16, learningRate: 0.1, seed: 8)
        #expect(a == d)
        #expect(try a.accuracy(on: train, indices: subset) == d.accuracy(on: try train.subset(subset)))
        #expect(try a.loss(on: train, indices: subset) < log(10))
    }

    @Test func safeTensorsRoundTrip() throws {
        let random = SeededRandom(testSeed: 4)
        let parameters = (0..<7_850).map { _ in Float(Int32(truncatingIfNeeded: random.nextWord())) / Float(Int32.max) }
        let model = try LogisticRegression(parameters: parameters)
        let file = model.safeTensors(metadata: ["round": "3"])
        #expect(file["weight"]?.shape == [10, 784])
        #expect(file["bias"]?.shape == [10])
        #expect(try file["bias"]?.floatValues() == Array(parameters[7_840...]))
        let restored = try LogisticRegression(safeTensors: SafeTensors(serialized: file.serialized()))
        #expect(restored == model)
        #expect(model.safeTensors(metadata: ["round": "3"]).contentHash() == file.contentHash())

        // Wrong shapes or extra tensors are refused.
        let weight = try #require(file["weight"]), bias = try #require(file["bias"])
        #expect(throws: TallyError.self) { try LogisticRegression(safeTensors: SafeTensors(tensors: ["weight": weight])) }
        #expect(throws: TallyError.self) {
            try LogisticRegression(safeTensors: SafeTensors(tensors: ["weight": weight, "bias": bias, "extra": bias]))
        }
        #expect(throws: TallyError.self) {
            try LogisticRegression(
                safeTensors: SafeTensors(tensors: [
                    "weight": weight, "bias": .init(shape: [9], values: [Float](repeating: 0, count: 9)),
                ]))
        }
        #expect(throws: TallyError.self) { try LogisticRegression(parameters: [Float](repeating: 0, count: 7_849)) }
        #expect(throws: TallyError.self) { try LogisticRegression(parameters: [Float](repeating: .nan, count: 7_850)) }
    }
}
