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
