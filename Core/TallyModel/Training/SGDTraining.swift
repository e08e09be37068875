import TallyCore

/// A built-in model trained by minibatch SGD in place: what the built-in trainers share.
protocol SGDTrainable: Classifier {
    var parameters: [Float] { get }
    /// Trains in place; returns false if `shouldStop` (asked before every batch) stopped it.
    mutating func train(
        on data: Dataset, indices: [Int]?, epochs: Int, batchSize: Int, learningRate: Float, seed: UInt64,
        stopIf shouldStop: () -> Bool
    ) throws(TallyError) -> Bool
}

extension LogisticRegression: SGDTrainable {}
extension MultilayerPerceptron: SGDTrainable {}

extension SGDTrainable {
    /// Trains this model (built from the round's global parameters) with `settings` and returns
    /// the update Δ = trained − global. Cancellation of the task is checked before every batch,
    /// after `beforeBatch`.
    mutating func localUpdate(
        from global: [Float], data: Dataset, indices: [Int]?, settings: TrainingSettings, beforeBatch: (@Sendable () -> Void)?
    ) throws -> [Float] {
        guard settings.localEpochs >= 0, settings.batchSize >= 1 else {
            throw TallyError(
                .invalidArgument, "localEpochs must be ≥ 0 and batchSize ≥ 1, got \(settings.localEpochs) and \(settings.batchSize)")
        }
        let finished = try train(
            on: data, indices: indices, epochs: settings.localEpochs, batchSize: settings.batchSize,
            learningRate: Float(settings.learningRate), seed: settings.seed
        ) {
            beforeBatch?()
            return Task.isCancelled
        }
        guard finished else { throw CancellationError() }
        var delta = parameters
        for i in delta.indices { delta[i] -= global[i] }
        return delta
    }
}

/// The minibatch schedule both built-in models train on: `epochs` passes over `indices` (all
/// examples when nil), each in a fresh order drawn from `seed`, cut into batches of `batchSize`.
struct Minibatches {
    let epochs: Int
    let batchSize: Int
    let seed: UInt64
    private var order: [Int]

    init(count: Int, indices: [Int]?, epochs: Int, batchSize: Int, learningRate: Float, seed: UInt64) throws(TallyError) {
        guard epochs >= 0 else { throw TallyError(.invalidArgument, "epochs must be ≥ 0, got \(epochs)") }
        guard batchSize >= 1 else { throw TallyError(.invalidArgument, "batchSize must be ≥ 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else {
            throw TallyError(.invalidArgument, "learningRate must be positive and finite, got \(learningRate)")
        }
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.order = indices ?? Array(0..<count)
    }

    /// No batch at all (no examples, or no epochs).
    var isEmpty: Bool { order.isEmpty || epochs == 0 }

    /// The largest batch.
    var largestBatch: Int { min(batchSize, order.count) }

    /// Calls `step` with every batch's example indices, asking `shouldStop` before each; false if
    /// it stopped.
    mutating func run(shouldStop: () -> Bool, _ step: (ArraySlice<Int>) -> Void) -> Bool {
        var random = SimulationRandom(seed: seed)
        for _ in 0..<epochs {
            random.shuffle(&order)
            var start = 0
            while start < order.count {
                if shouldStop() { return false }
                let end = min(start + batchSize, order.count)
                step(order[start..<end])
                start = end
            }
        }
        return true
    }
}
