import TallyCore

/// Local training of a federation's ``MultilayerPerceptron``: minibatch SGD over this
/// organization's examples, started from the round's global parameters.
///
/// Unlike logistic regression, the parameter count does not determine the architecture (the
/// hidden widths and the activation), so the trainer is given the federation's spec.
public struct MultilayerPerceptronTrainer: Trainer {
    public let spec: ModelSpec
    /// All examples loaded (e.g. the whole Fashion-MNIST training split).
    public let data: Dataset
    /// The examples this organization trains on (its partition); nil for all of `data`.
    public let indices: [Int]?
    /// Called before every batch, on the training task; lets a test cancel at a known point.
    let beforeBatch: (@Sendable () -> Void)?

    public init(spec: ModelSpec, data: Dataset, indices: [Int]? = nil) {
        self.init(spec: spec, data: data, indices: indices, beforeBatch: nil)
    }

    init(spec: ModelSpec, data: Dataset, indices: [Int]?, beforeBatch: (@Sendable () -> Void)?) {
        self.spec = spec
        self.data = data
        self.indices = indices
        self.beforeBatch = beforeBatch
    }

    public func update(global: [Float], settings: TrainingSettings) async throws -> [Float] {
        try Task.checkCancellation()
        guard settings.localEpochs >= 0, settings.batchSize >= 1 else {
            throw TallyError(
                .invalidArgument, "localEpochs must be ≥ 0 and batchSize ≥ 1, got \(settings.localEpochs) and \(settings.batchSize)")
        }
        var model = try MultilayerPerceptron(spec: spec, parameters: global)
        let beforeBatch = beforeBatch
        let finished = try model.train(
            on: data, indices: indices, epochs: settings.localEpochs, batchSize: settings.batchSize,
            learningRate: Float(settings.learningRate), seed: settings.seed
        ) {
            beforeBatch?()
            return Task.isCancelled
        }
        guard finished else { throw CancellationError() }
        var delta = model.parameters
        for i in delta.indices { delta[i] -= global[i] }
        return delta
    }
}
