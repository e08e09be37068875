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
        var model = try MultilayerPerceptron(spec: spec, parameters: global)
        return try model.localUpdate(from: global, data: data, indices: indices, settings: settings, beforeBatch: beforeBatch)
    }
}
