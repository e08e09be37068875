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
        guard let train = try examples(for: model)?.train else { return NoOpTrainer() }
        try check(model.spec, against: train)
        if case .multilayerPerceptron(_, _, _, _) = model.spec {
            return MultilayerPerceptronTrainer(spec: model.spec, data: train, indices: indices)
        }
        return LogisticRegressionTrainer(data: train, indices: indices)
    }

    /// The training and held-out examples as `model` reads them: through its feature transform,
    /// then its standardization once measured (``ModelState/inputs(_:)``). Each is computed once
    /// per process, on first use, and kept. nil without data.
    public func examples(for model: ModelState) throws(TallyError) -> (train: Dataset, heldOut: Dataset?)? {
        guard let standardization = model.standardization, !standardization.isPending else {
            return try examples(for: model.features)
        }
        guard let (train, heldOut) = try examples(for: model.features) else { return nil }
        return try transformed.get(.init(features: model.features, standardization: standardization)) { () throws(TallyError) in
            (try model.inputs(train), try heldOut.map { (part) throws(TallyError) in try model.inputs(part) })
        }
    }

    /// The training and held-out examples as `features` makes them (the raw ones for `none`):
    /// transformed once per process, on first use, and kept. nil without data.
    public func examples(for features: FeatureTransform) throws(TallyError) -> (train: Dataset, heldOut: Dataset?)? {
        guard let train else { return nil }
        guard features != .none else { return (train, heldOut) }
        return try transformed.get(.init(features: features, standardization: nil)) { () throws(TallyError) in
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
        guard let train = try examples(for: model)?.train else {
            throw TallyError(
                .invalidArgument, "record-level rounds need this organization's records; the benchmark's no-op trainer has none")
        }
        try check(model.spec, against: train)
        let sample = try PoissonSampling.sample(indices, rate: rate, random: random)
        return try model.clippedGradientSum(on: train, indices: sample, clipNorm: clipNorm)
    }

    /// A moments round's contribution (``Standardization/momentsSum(of:indices:clipNorm:)``), on
    /// the examples through the model's feature transform: in a record-level round the sum over a
    /// Poisson sample at `samplingRate` (each record moves it by at most `clipNorm`), otherwise
    /// the mean over every training example (the organization's whole contribution within
    /// `clipNorm`). Returns the vector and the records it covers.
    public func momentsContribution(
        model: ModelState, samplingRate rate: Double?, clipNorm: Double, random: some CryptoRandomSource
    ) throws(TallyError) -> (vector: [Double], records: Int) {
        guard let standardization = model.standardization, standardization.isPending else {
            throw TallyError(.invalidArgument, "the round's model has no standardization left to measure")
        }
        guard let train = try examples(for: model.features)?.train else {
            throw TallyError(
                .invalidArgument,
                "measuring the features' moments needs this organization's records; the benchmark's no-op trainer has none")
        }
        try check(model.spec, against: train)
        let chosen = try rate.map { (q) throws(TallyError) in try PoissonSampling.sample(indices, rate: q, random: random) } ?? indices
        let sum = try standardization.momentsSum(of: train, indices: chosen, clipNorm: clipNorm)
        guard rate == nil else { return (sum, chosen.count) }
        guard !chosen.isEmpty else { throw TallyError(.malformedDataset, "this organization has no training examples") }
        return (sum.map { $0 / Double(chosen.count) }, chosen.count)
    }

    /// A round's evaluation part (``FederatedEvaluation``): the held-out records as `model`
    /// reads them, scored by it — summed over a Poisson sample at `samplingRate` (record unit) or
    /// averaged over all of them (organization unit). All zeros, with 0 records, for an
    /// organization without held-out records or data. Returns the sums and the records scored.
    public func evaluationContribution(
        model: ModelState, evaluation: FederatedEvaluation, samplingRate rate: Double?, clipNorm: Double,
        random: some CryptoRandomSource
    ) throws(TallyError) -> (sum: [Double], records: Int) {
        guard let k = model.classCount, let classifier = try model.classifier() else {
            throw TallyError(.invalidArgument, "federated evaluation needs a built-in model")
        }
        let scale = evaluation.recordScale(clipNorm: clipNorm, recordUnit: rate != nil)
        guard let heldOut = try examples(for: model)?.heldOut, heldOut.count > 0 else {
            return ([Double](repeating: 0, count: FederatedEvaluation.length(classCount: k)), 0)
        }
        try check(model.spec, against: heldOut)
        let all = Array(0..<heldOut.count)
        let chosen = try rate.map { (q) throws(TallyError) in try PoissonSampling.sample(all, rate: q, random: random) } ?? all
        let sum = try FederatedEvaluation.sum(classifier, on: heldOut, indices: chosen, scale: scale)
        guard rate == nil else { return (sum, chosen.count) }
        return (sum.map { $0 / Double(chosen.count) }, chosen.count)
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

/// Transformed copies of the local data, one per feature transform and standardization. Each is
/// computed once: concurrent first uses of the same one wait for it.
private final class TransformedData: Sendable {
    struct Key: Hashable, Sendable {
        var features: FeatureTransform
        var standardization: Standardization?
    }
    private let entries = Mutex<[Key: (train: Dataset, heldOut: Dataset?)]>([:])
    /// Held while one is computed (a standardized copy is made from a transformed one, so the
    /// map's own lock cannot be held across `make`).
    private let computing = Mutex<Void>(())

    func get(
        _ key: Key, _ make: () throws(TallyError) -> (train: Dataset, heldOut: Dataset?)
    ) throws(TallyError) -> (train: Dataset, heldOut: Dataset?) {
        if let done = entries.withLock({ $0[key] }) { return done }
        return try computing.withLock { (_) throws(TallyError) in
            if let done = entries.withLock({ $0[key] }) { return done }
            let made = try make()
            entries.withLock { $0[key] = made }
            return made
        }
    }
}
