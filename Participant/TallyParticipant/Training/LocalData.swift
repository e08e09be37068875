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

    /// What trains the plan's model on this data: the built-in trainer of its architecture, or
    /// the no-op trainer when there is no data (the benchmark). A model whose inputs or classes
    /// do not match the data is refused, naming both.
    public func trainer(for spec: ModelSpec) throws(TallyError) -> any Trainer {
        guard let train else { return NoOpTrainer() }
        try check(spec, against: train)
        if case .multilayerPerceptron = spec { return MultilayerPerceptronTrainer(spec: spec, data: train, indices: indices) }
        return LogisticRegressionTrainer(data: train, indices: indices)
    }

    /// A record-level round's contribution: the records kept by a Poisson sample at `rate` (drawn
    /// from `random`, never from the plan), each record's gradient at `model` clipped to
    /// `clipNorm`, summed (``ModelState/clippedGradientSum(on:indices:clipNorm:)``).
    public func clippedGradientSum(
        model: ModelState, samplingRate rate: Double, clipNorm: Double, random: some CryptoRandomSource
    ) throws(TallyError) -> ClippedGradientSum {
        guard let train else {
            throw TallyError(
                .invalidArgument, "record-level rounds need this organization's records; the benchmark's no-op trainer has none")
        }
        try check(model.spec, against: train)
        let sample = try PoissonSampling.sample(indices, rate: rate, random: random)
        return try model.clippedGradientSum(on: train, indices: sample, clipNorm: clipNorm)
    }

    /// The model's inputs and classes against the data's, naming both when they differ.
    private func check(_ spec: ModelSpec, against train: Dataset) throws(TallyError) {
        let shape: (features: Int, classes: Int)
        switch spec {
        case .logisticRegression(let f, let c): shape = (f, c)
        case .multilayerPerceptron(let f, _, _, let c): shape = (f, c)
        case .flat, .external:
            throw TallyError(
                .invalidArgument,
                "the federation's model (\(spec.metadata[ModelSpec.formatKey] ?? "?")) has no built-in trainer; set trainer to external")
        }
        guard shape.features == train.featureCount, shape.classes == train.classCount else {
            throw TallyError(
                .dataSchemaMismatch,
                "the federation's model takes \(shape.features) features and \(shape.classes) classes; this organization's data has \(train.featureCount) and \(train.classCount)"
            )
        }
    }
}
