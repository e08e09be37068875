import Foundation
import Synchronization
import TallyCore
import Testing

@testable import TallyModel

@Suite struct MultilayerPerceptronTests {
    /// A tiny two-hidden-layer model: small enough to check every parameter by finite differences.
    private static func tinySpec(_ activation: ModelSpec.Activation) -> ModelSpec {
        .multilayerPerceptron(featureCount: 5, hidden: [4, 3], activation: activation, classCount: 3)
    }

    /// `count` examples of uniform features in [-1, 1) and labels cycling through the classes.
    private static func randomData(count: Int, featureCount: Int, classCount: Int, seed: UInt64) throws -> Dataset {
        var random = SimulationRandom(seed: seed)
        let features = (0..<(count * featureCount)).map { _ in Float(random.unitInterval() * 2 - 1) }
        let labels = (0..<count).map { UInt8($0 % classCount) }
        return try Dataset(features: features, labels: labels, featureCount: featureCount, classCount: classCount)
    }

    /// A model with larger-than-initial random weights and biases, so no gradient is trivially 0.
    private static func randomModel(_ spec: ModelSpec, seed: UInt64) throws -> MultilayerPerceptron {
        var random = SimulationRandom(seed: seed)
        let count = try spec.layout.parameterCount
        return try MultilayerPerceptron(spec: spec, parameters: (0..<count).map { _ in Float(random.standardNormal() * 0.8) })
    }

    @Test(arguments: ModelSpec.Activation.allCases)
    func gradientMatchesFiniteDifferences(activation: ModelSpec.Activation) throws {
        let spec = Self.tinySpec(activation)
        let data = try Self.randomData(count: 8, featureCount: 5, classCount: 3, seed: 11)
        let model = try Self.randomModel(spec, seed: 12)
        let indices = Array(0..<8)
        let (loss, gradient) = try model.gradient(on: data, indices: indices)
        #expect(abs(loss - (try model.loss(on: data, indices: indices))) < 1e-6)
        // ReLU is piecewise linear: a smaller step keeps the pre-activations on one side of 0.
        let h: Float = activation == .relu ? 1e-3 : 1e-2
        for p in model.parameters.indices {
            var plus = model.parameters, minus = model.parameters
            plus[p] += h
            minus[p] -= h
            let lossPlus = try MultilayerPerceptron(spec: spec, parameters: plus).loss(on: data, indices: indices)
            let lossMinus = try MultilayerPerceptron(spec: spec, parameters: minus).loss(on: data, indices: indices)
            let numeric = (lossPlus - lossMinus) / Double(plus[p] - minus[p])
            let analytic = Double(gradient[p])
            #expect(abs(numeric - analytic) <= 2e-3 + 1e-2 * abs(numeric), "parameter \(p): numeric \(numeric), analytic \(analytic)")
        }
        #expect(gradient.contains { abs($0) > 1e-2 })
    }

    @Test(arguments: ModelSpec.Activation.allCases)
    func perExampleGradientsMatchOneBackpropPerExample(activation: ModelSpec.Activation) throws {
        let spec = Self.tinySpec(activation)
        let data = try Self.randomData(count: 12, featureCount: 5, classCount: 3, seed: 21)
        let model = try Self.randomModel(spec, seed: 22)
        let indices = [3, 0, 7, 11, 5, 9, 2]
        // The reference: a backward pass over each example alone.
        let single = try indices.map { try model.gradient(on: data, indices: [$0]).gradient }
        let norms = single.map { g in g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        // Halfway between two norms: no example sits on the clip, where rounding would decide.
        let sorted = norms.sorted()
        let clip = (sorted[norms.count / 2] + sorted[norms.count / 2 + 1]) / 2
        var expected = [Double](repeating: 0, count: model.parameters.count)
        for (g, norm) in zip(single, norms) {
            let factor = min(1, clip / norm)
            for p in expected.indices { expected[p] += factor * Double(g[p]) }
        }

        var seen: [Double] = []
        let result = try model.perExampleGradients(on: data, indices: indices) { norms in
            seen = norms
            return norms.map { min(1, clip / $0) }
        }
        #expect(seen == result.norms)
        for (got, want) in zip(result.norms, norms) { #expect(abs(got - want) <= 1e-4 * want, "norm \(got) vs \(want)") }
        for p in expected.indices {
            #expect(abs(result.scaledSum[p] - expected[p]) <= 1e-5 + 1e-4 * abs(expected[p]), "parameter \(p)")
        }
        let clipped = try model.clippedGradientSum(on: data, indices: indices, clipNorm: clip)
        #expect(zip(clipped.sum, expected).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-4 * abs($1) })
        #expect(clipped.records == indices.count && clipped.clipped == norms.filter { $0 >= clip }.count)
        // Some examples were clipped and some not: the factor really was applied per example.
        #expect(norms.contains { $0 > clip * 1.01 } && norms.contains { $0 < clip * 0.99 })
    }

    @Test func perExampleGradientsRefuseFactorsOfTheWrongCountOrNonFinite() throws {
        let data = try Self.randomData(count: 4, featureCount: 5, classCount: 3, seed: 1)
        let model = try Self.randomModel(Self.tinySpec(.relu), seed: 2)
        #expect(throws: TallyError.self) { _ = try model.perExampleGradients(on: data, indices: [0, 1]) { _ in [1] } }
        #expect(throws: TallyError.self) { _ = try model.perExampleGradients(on: data, indices: [0, 1]) { _ in [1, .nan] } }
        #expect(throws: TallyError.self) { _ = try model.clippedGradientSum(on: data, indices: [0], clipNorm: 0) }
        #expect(throws: TallyError.self) { _ = try model.perExampleGradients(on: data, indices: []) { $0 } }
    }

    /// The tensors are where the layout says, and mean what it says: the model's logits equal
    /// a hand-written forward pass reading `layers.i.weight` [out, in] and `layers.i.bias` by name
    /// from the model file read back.
    @Test func layoutRoundTripsThroughSafeTensors() throws {
        let spec = ModelSpec.multilayerPerceptron(featureCount: 6, hidden: [5], activation: .tanh, classCount: 4)
        let model = try Self.randomModel(spec, seed: 31)
        let bytes = try ModelState(spec: spec, parameters: model.parameters).safeTensors().serialized()
        let file = try SafeTensors(serialized: bytes)
        let state = try ModelState(safeTensors: file)
        #expect(state.spec == spec)
        #expect(state.parameters == model.parameters)

        let w0 = try #require(file["layers.0.weight"]), b0 = try #require(file["layers.0.bias"])
        let w1 = try #require(file["layers.1.weight"]), b1 = try #require(file["layers.1.bias"])
        #expect(w0.shape == [5, 6] && b0.shape == [5] && w1.shape == [4, 5] && b1.shape == [4])
        let (W0, B0, W1, B1) = (try w0.floatValues(), try b0.floatValues(), try w1.floatValues(), try b1.floatValues())
        let data = try Self.randomData(count: 10, featureCount: 6, classCount: 4, seed: 32)
        /// out[o] = b[o] + Σᵢ W[o][i] x[i], with W [out, in] row-major.
        func affine(_ w: [Float], _ b: [Float], _ x: [Float]) -> [Float] {
            var out = b
            for o in out.indices {
                for i in x.indices { out[o] += w[o * x.count + i] * x[i] }
            }
            return out
        }
        var expected: [Int] = []
        for i in 0..<data.count {
            let hidden = affine(W0, B0, Array(data.features(of: i))).map { Foundation.tanh($0) }
            let scores = affine(W1, B1, hidden)
            expected.append(scores.indices.max { scores[$0] < scores[$1] }!)
        }
        #expect(try model.predictions(on: data) == expected)
        #expect(try state.accuracy(on: data) == model.accuracy(on: data))
    }

    @Test func badSizesAreErrorsNamingWhatIsWrong() throws {
        let spec = Self.tinySpec(.relu)
        let count = try spec.layout.parameterCount
        #expect(throws: TallyError.self) { _ = try MultilayerPerceptron(spec: spec, parameters: [Float](repeating: 0, count: count - 1)) }
        #expect(throws: TallyError.self) {
            _ = try MultilayerPerceptron(spec: .logisticRegression(featureCount: 5, classCount: 3), parameters: [])
        }
        #expect(throws: TallyError.self) {
            _ = try MultilayerPerceptron(
                spec: .multilayerPerceptron(featureCount: 5, hidden: [], activation: .relu, classCount: 3), parameters: [])
        }
        var parameters = [Float](repeating: 0, count: count)
        parameters[5 * 4 + 4 + 2] = .infinity // layers.1.weight, element 2
        do {
            _ = try MultilayerPerceptron(spec: spec, parameters: parameters)
            Issue.record("a non-finite parameter was accepted")
        } catch {
            #expect(error.message.contains("layers.1.weight") && error.message.contains("element 2"), "\(error.message)")
        }

        let model = try MultilayerPerceptron.initial(spec: spec, seed: 1)
        let wrongFeatures = try Self.randomData(count: 4, featureCount: 6, classCount: 3, seed: 1)
        #expect(throws: TallyError.self) { _ = try model.accuracy(on: wrongFeatures) }
        let data = try Self.randomData(count: 4, featureCount: 5, classCount: 3, seed: 1)
        #expect(throws: TallyError.self) { _ = try model.loss(on: data, indices: [4]) }
        #expect(throws: TallyError.self) { _ = try model.gradient(on: data, indices: []) }
        var copy = model
        #expect(throws: TallyError.self) { _ = try copy.train(on: data, epochs: 1, batchSize: 0, learningRate: 0.1, seed: 1) }
        #expect(throws: TallyError.self) { _ = try copy.train(on: data, epochs: 1, batchSize: 2, learningRate: .nan, seed: 1) }
    }

    @Test func initialWeightsAreSeededAndScaledForTheActivation() throws {
        let relu = ModelSpec.multilayerPerceptron(featureCount: 400, hidden: [300], activation: .relu, classCount: 10)
        let tanh = ModelSpec.multilayerPerceptron(featureCount: 400, hidden: [300], activation: .tanh, classCount: 10)
        let a = try MultilayerPerceptron.initial(spec: relu, seed: 5)
        #expect(a == (try MultilayerPerceptron.initial(spec: relu, seed: 5)))
        #expect(a != (try MultilayerPerceptron.initial(spec: relu, seed: 6)))
        func std(_ values: ArraySlice<Float>) -> Double {
            (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(values.count)).squareRoot()
        }
        let t = try MultilayerPerceptron.initial(spec: tanh, seed: 5)
        let firstWeights = 0..<(400 * 300)
        #expect(abs(std(a.parameters[firstWeights]) - (2.0 / 400).squareRoot()) < 0.002)
        #expect(abs(std(t.parameters[firstWeights]) - (2.0 / 700).squareRoot()) < 0.002)
        #expect(a.parameters[(400 * 300)..<(400 * 300 + 300)].allSatisfy { $0 == 0 })
        let state = try ModelState.initial(relu, seed: 5)
        #expect(state.parameters == a.parameters)
    }

    @Test func trainerUpdateIsTrainedMinusGlobalAndLowersTheLoss() async throws {
        let spec = ModelSpec.multilayerPerceptron(featureCount: 5, hidden: [16], activation: .relu, classCount: 3)
        // Labels a fixed nonlinear function of the features: learnable by an MLP.
        var random = SimulationRandom(seed: 41)
        let features = (0..<(300 * 5)).map { _ in Float(random.unitInterval() * 2 - 1) }
        func label(_ i: Int) -> UInt8 {
            if features[i * 5] * features[i * 5 + 1] > 0 { return 0 }
            return features[i * 5 + 2] > 0 ? 1 : 2
        }
        let labels = (0..<300).map(label)
        let data = try Dataset(features: features, labels: labels, featureCount: 5, classCount: 3)
        let global = try MultilayerPerceptron.initial(spec: spec, seed: 3)
        let settings = TrainingSettings(localEpochs: 20, batchSize: 16, learningRate: 0.2, seed: 7)
        let indices = Array(stride(from: 0, to: 300, by: 2))
        let update = try await MultilayerPerceptronTrainer(spec: spec, data: data, indices: indices)
            .update(global: global.parameters, settings: settings)
        let after = try MultilayerPerceptron(spec: spec, parameters: zip(global.parameters, update).map { $0 + $1 })
        let before = try global.loss(on: data, indices: indices), lossAfter = try after.loss(on: data, indices: indices)
        #expect(lossAfter < before * 0.6, "loss \(before) → \(lossAfter)")

        var direct = global
        #expect(try direct.train(on: data, indices: indices, epochs: 20, batchSize: 16, learningRate: 0.2, seed: 7))
        #expect(zip(direct.parameters, after.parameters).allSatisfy { abs($0 - $1) <= 1e-5 })

        let trainer = MultilayerPerceptronTrainer(spec: spec, data: data)
        await #expect(throws: TallyError.self) { _ = try await trainer.update(global: [0, 1], settings: settings) }
    }

    /// Cancelled at its 10th batch, the trainer must stop before the 11th; counted in batches,
    /// not seconds, so the test cannot flake.
    @Test func cancellationStopsTrainingWithinABatch() async throws {
        let spec = Self.tinySpec(.tanh)
        let data = try Self.randomData(count: 50, featureCount: 5, classCount: 3, seed: 3)
        let batches = Mutex(0)
        let trainer = MultilayerPerceptronTrainer(spec: spec, data: data, indices: nil) {
            let count = batches.withLock {
                $0 += 1
                return $0
            }
            if count == 10 { withUnsafeCurrentTask { $0?.cancel() } }
        }
        let global = try MultilayerPerceptron.initial(spec: spec, seed: 1).parameters
        let settings = TrainingSettings(localEpochs: 1_000, batchSize: 1, learningRate: 0.01, seed: 1)
        let task = Task { try await trainer.update(global: global, settings: settings) }
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(batches.withLock { $0 } == 10)
    }

    /// Two epochs on 6,000 Fashion-MNIST training images must take a 784→64→10 MLP far above
    /// chance (0.1) on 2,000 test images; the run is seeded, so the number is reproducible.
    @Test func trainingOnFashionMNISTBeatsChanceClearly() async throws {
        let (train, test) = try ModelTestData.load()
        let spec = ModelSpec.multilayerPerceptron(featureCount: 784, hidden: [64], activation: .relu, classCount: 10)
        let global = try ModelState.initial(spec, seed: 1)
        let settings = TrainingSettings(localEpochs: 2, batchSize: 32, learningRate: 0.1, seed: 2)
        let update = try await MultilayerPerceptronTrainer(spec: spec, data: train, indices: Array(0..<6_000))
            .update(global: global.parameters, settings: settings)
        let trained = ModelState(spec: spec, parameters: zip(global.parameters, update).map { $0 + $1 })
        let testSubset = try test.subset(Array(0..<2_000))
        let before = try #require(try global.accuracy(on: testSubset))
        let after = try #require(try trained.accuracy(on: testSubset))
        #expect(before < 0.3)
        #expect(after > 0.75, "test accuracy \(after)")
    }
}
