import Synchronization
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
    /// `train` and `heldOut` as each feature transform makes them, computed on first use.
    private let transformed = TransformedData()

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
    public func trainer(for model: ModelState) throws(TallyError) -> any Trainer {
        guard let train = try examples(for: model.features)?.train else { return NoOpTrainer() }
        try check(model.spec, against: train)
        if case .multilayerPerceptron(_, _, _, _) = model.spec {
            return MultilayerPerceptronTrainer(spec: model.spec, data: train, indices: indices)
        }
        return LogisticRegressionTrainer(data: train, indices: indices)
    }

    /// The training and held-out examples as `features` makes them (the raw ones for `none`):
    /// transformed once per process, on first use, and kept. nil without data.
    public func examples(for features: FeatureTransform) throws(TallyError) -> (train: Dataset, heldOut: Dataset?)? {
        guard let train else { return nil }
        guard features != .none else { return (train, heldOut) }
        return try transformed.get(features) { () throws(TallyError) in
            do throws(TallyError) {
                let heldOut = try self.heldOut.flatMap { (part) throws(TallyError) in try features.apply(toSquareImages: part) }
                return (try features.apply(toSquareImages: train), heldOut)
            } catch {
                throw TallyError(error.code, "model features \(features.rawValue) on this organization's data: \(error.message)")
            }
        }
    }

    /// A record-level round's contribution: the records kept by a Poisson sample at `rate` (drawn
    /// from `random`, never from the plan), each record's gradient at `model` clipped to
    /// `clipNorm`, summed (``ModelState/clippedGradientSum(on:indices:clipNorm:)``).
    public func clippedGradientSum(
        model: ModelState, samplingRate rate: Double, clipNorm: Double, random: some CryptoRandomSource
    ) throws(TallyError) -> ClippedGradientSum {
        guard let train = try examples(for: model.features)?.train else {
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

/// Transformed copies of the local data, one per feature transform. The lock is held while one is
/// computed, so concurrent first uses compute it once.
private final class TransformedData: Sendable {
    private let entries = Mutex<[FeatureTransform: (train: Dataset, heldOut: Dataset?)]>([:])

    func get(
        _ features: FeatureTransform, _ make: () throws(TallyError) -> (train: Dataset, heldOut: Dataset?)
    ) throws(TallyError) -> (train: Dataset, heldOut: Dataset?) {
        try entries.withLock { (entries) throws(TallyError) in
            if let done = entries[features] { return done }
            let made = try make()
            entries[features] = made
            return made
        }
    }
}
