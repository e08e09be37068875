import TallyCore
import TallyModel

/// This organization's examples: its own source or its Dirichlet partition of Fashion-MNIST,
/// checked against the task's schema, less the part held out for local evaluation.
public struct LocalData: Sendable {
    /// nil for the no-op trainer, which uses no data.
    public let train: Dataset?
    /// The examples of `train` to train on (all of them).
    public let indices: [Int]
    /// The examples never trained on, for evaluating the federation's model locally; nil for
    /// the no-op trainer, empty when `data.heldOutFraction` is 0.
    public let heldOut: Dataset?
    /// What the no-op trainer reports as its example count.
    static let noopExamples = 1 << 30

    /// No data (the no-op trainer of the round benchmark).
    public static let none = LocalData()

    private init() {
        train = nil
        indices = []
        heldOut = nil
    }

    /// Loads the `data` section's source against its schema and splits off the held-out part.
    public init(source: ParticipantConfiguration.DataSource) throws(TallyError) {
        try source.validate()
        let local = try source.resolvedSource.load(schema: source.resolvedSchema)
        train = local.training
        indices = Array(0..<local.training.count)
        heldOut = local.heldOut
    }

    public var exampleCount: Int { train == nil ? Self.noopExamples : indices.count }

    /// What trains on this data: logistic regression on this organization's partition, or the
    /// no-op trainer when there is no data.
    public var trainer: any Trainer {
        guard let train else { return NoOpTrainer() }
        return LogisticRegressionTrainer(data: train, indices: indices)
    }
}
