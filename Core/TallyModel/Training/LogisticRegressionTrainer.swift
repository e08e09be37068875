import TallyCore

/// Local training of the federation's ``LogisticRegression``: minibatch SGD over this
/// organization's examples, started from the round's global parameters.
///
/// The model's shape comes from the data (its feature count) and the global parameter count
/// (`classCount × (featureCount + 1)`), so the trainer needs no separate model description.
public struct LogisticRegressionTrainer: Trainer {
    /// All examples loaded (e.g. the whole Fashion-MNIST training split).
    public let data: Dataset
    /// The examples this organization trains on (its partition); nil for all of `data`.
    public let indices: [Int]?
    /// Called before every batch, on the training task; lets a test cancel at a known point.
    let beforeBatch: (@Sendable () -> Void)?

    public init(data: Dataset, indices: [Int]? = nil) {
        self.init(data: data, indices: indices, beforeBatch: nil)
    }

    init(data: Dataset, indices: [Int]?, beforeBatch: (@Sendable () -> Void)?) {
        self.data = data
        self.indices = indices
        self.beforeBatch = beforeBatch
    }

    public func update(global: [Float], settings: TrainingSettings) async throws -> [Float] {
        try Task.checkCancellation()
        let featureCount = data.featureCount
        guard global.count % (featureCount + 1) == 0, global.count / (featureCount + 1) >= 2 else {
            throw TallyError(
                .sizeMismatch,
                "\(global.count) parameters are not a logistic regression over \(featureCount) features (classes × \(featureCount + 1), at least 2 classes)"
            )
        }
        var model = try LogisticRegression(
            featureCount: featureCount, classCount: global.count / (featureCount + 1),
            parameters: global)
        return try model.localUpdate(from: global, data: data, indices: indices, settings: settings, beforeBatch: beforeBatch)
    }
}
