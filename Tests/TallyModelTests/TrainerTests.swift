import Synchronization
import TallyCore
import Testing

@testable import TallyModel

/// Batches seen by a trainer's hook, shared between the training task and the test.
private final class BatchCounter: Sendable {
    private let count = Mutex(0)
    /// Counts one batch and returns the count so far.
    @discardableResult func tick() -> Int {
        count.withLock {
            $0 += 1; return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}

@Suite struct ModelTrainerTests {
    /// Three classes of examples scattered around three different centres in 4 dimensions:
    /// learnable, so a few epochs of SGD must lower the loss.
    private func clusters(count: Int, seed: UInt64) throws -> Dataset {
        let random = SeededRandom(testSeed: seed)
        func uniform() -> Float { Float(random.nextWord() >> 40) / Float(1 << 24) * 2 - 1 }
        let centres: [[Float]] = [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]]
        var features: [Float] = [], labels: [UInt8] = []
        for i in 0..<count {
            let label = i % 3
            features += centres[label].map { $0 + uniform() }
            labels.append(UInt8(label))
        }
        return try Dataset(features: features, labels: labels, featureCount: 4, classCount: 3)
    }

    @Test func logisticRegressionUpdateLowersTheLossOnItsData() async throws {
        let data = try clusters(count: 300, seed: 3)
        let indices = Array(stride(from: 0, to: 300, by: 2))
        let global = [Float](repeating: 0, count: 3 * 5)
        let settings = TrainingSettings(localEpochs: 3, batchSize: 8, learningRate: 0.1, seed: 7)
        let trainer: any Trainer = LogisticRegressionTrainer(data: data, indices: indices)
        let update = try await trainer.update(global: global, settings: settings)
        #expect(update.count == global.count)
        #expect(update.contains { $0 != 0 })

        let before = try LogisticRegression(featureCount: 4, classCount: 3, parameters: global)
        let after = try LogisticRegression(featureCount: 4, classCount: 3, parameters: zip(global, update).map { $0 + $1 })
        let lossBefore = try before.loss(on: data, indices: indices), lossAfter = try after.loss(on: data, indices: indices)
        #expect(lossAfter < lossBefore * 0.5, "loss \(lossBefore) → \(lossAfter)")

        // The update is exactly trained − global for the same SGD run (same seed, same examples).
        var direct = before
        try direct.train(on: data, indices: indices, epochs: 3, batchSize: 8, learningRate: 0.1, seed: 7)
        #expect(after.parameters.indices.allSatisfy { abs(after.parameters[$0] - direct.parameters[$0]) <= 1e-6 })
    }

    @Test func logisticRegressionTrainerRefusesParametersOfAnotherShape() async throws {
        let trainer = LogisticRegressionTrainer(data: try clusters(count: 30, seed: 1))
        await #expect(throws: TallyError.self) {
            _ = try await trainer.update(global: [Float](repeating: 0, count: 14), settings: TrainingSettings())
        }
        // 5 = one class of 4 features and a bias: a softmax needs at least two.
        await #expect(throws: TallyError.self) {
            _ = try await trainer.update(global: [Float](repeating: 0, count: 5), settings: TrainingSettings())
        }
    }

    @Test func noOpTrainerReturnsZerosOfTheModelSize() async throws {
        let random = SeededRandom(testSeed: 9)
        let global = (0..<1_000).map { _ in Float(random.nextWord() >> 40) }
        let update = try await NoOpTrainer().update(global: global, settings: TrainingSettings(localEpochs: 5))
        #expect(update.count == 1_000)
        #expect(update.allSatisfy { $0 == 0 })
        #expect(try await NoOpTrainer().update(global: [], settings: TrainingSettings()).isEmpty)
    }

    /// A run of 100,000 batches cancelled at its 10th: the trainer must notice before the 11th
    /// and throw CancellationError. Counted in batches, not seconds, so the test cannot flake;
    /// a trainer that ignored cancellation would run all of them and fail the count.
    @Test func cancellationStopsLogisticRegressionTrainingWithinABatch() async throws {
        let data = try clusters(count: 100, seed: 5)
        let batches = BatchCounter()
        let trainer = LogisticRegressionTrainer(data: data, indices: nil) {
            if batches.tick() == 10 { withUnsafeCurrentTask { $0?.cancel() } }
        }
        let settings = TrainingSettings(localEpochs: 1_000, batchSize: 1, learningRate: 0.01, seed: 1)
        let task = Task { try await trainer.update(global: [Float](repeating: 0, count: 15), settings: settings) }
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(batches.value == 10)
    }

    @Test func trainersRefuseToStartOnceCancelled() async throws {
        let batches = BatchCounter()
        let trainers: [any Trainer] = [
            NoOpTrainer(),
            LogisticRegressionTrainer(data: try clusters(count: 30, seed: 2), indices: nil) { batches.tick() },
        ]
        for trainer in trainers {
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await trainer.update(global: [Float](repeating: 0, count: 15), settings: TrainingSettings())
            }
            await #expect(throws: CancellationError.self) { _ = try await task.value }
        }
        #expect(batches.value == 0)
    }

    @Test func stoppedSGDLeavesTheModelUnchanged() throws {
        let data = try clusters(count: 60, seed: 6)
        var model = LogisticRegression(featureCount: 4, classCount: 3)
        var asked = 0
        let finished = try model.train(on: data, epochs: 2, batchSize: 4, learningRate: 0.1, seed: 1) {
            asked += 1
            return asked == 5
        }
        #expect(!finished)
        #expect(asked == 5)
        #expect(model == LogisticRegression(featureCount: 4, classCount: 3))
        // Asked before each of the 2 × 15 batches when nothing stops it.
        asked = 0
        #expect(
            try model.train(on: data, epochs: 2, batchSize: 4, learningRate: 0.1, seed: 1) {
                asked += 1; return false
            })
        #expect(asked == 30)
        #expect(model != LogisticRegression(featureCount: 4, classCount: 3))
    }
}
