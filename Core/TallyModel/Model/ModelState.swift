public import TallyCore

/// The global model as the engine sees it: what it is (``ModelSpec``) and its flat parameter
/// vector. Training is not here: a ``Trainer`` turns the parameters into an update, an
/// ``Aggregator`` turns the mean update into the next state.
public struct ModelState: Sendable {
    public let spec: ModelSpec
    public var parameters: [Float]
    /// The fixed map from an example's raw inputs to the model's inputs (``FeatureTransform``):
    /// part of the task, so it travels in the model file's metadata, under its hash and signature.
    public let features: FeatureTransform
    /// Per-feature standardization after ``features`` (``Standardization``), also part of the
    /// task and of the file's metadata; nil for none. While its moments are pending, a round on
    /// this model measures them instead of training.
    public let standardization: Standardization?

    /// The model-file metadata key naming ``features`` (absent means none).
    public static let featuresKey = "features"

    /// An all-zero model of `spec` (the usual start for logistic regression and the benchmark).
    public static func zeros(_ spec: ModelSpec, features: FeatureTransform = .none) throws(TallyError) -> ModelState {
        ModelState(spec: spec, parameters: [Float](repeating: 0, count: try spec.layout.parameterCount), features: features)
    }

    /// The model a federation starts from: all zeros for the convex models (logistic regression,
    /// flat), seeded random weights for an MLP (``MultilayerPerceptron/initial(spec:seed:)``),
    /// whose hidden units would otherwise stay identical. External models bring their own file.
    public static func initial(_ spec: ModelSpec, seed: UInt64, features: FeatureTransform = .none) throws(TallyError) -> ModelState {
        switch spec {
        case .multilayerPerceptron:
            let model = try MultilayerPerceptron.initial(spec: spec, seed: seed)
            return ModelState(spec: spec, parameters: model.parameters, features: features)
        case .logisticRegression, .flat:
            return try zeros(spec, features: features)
        case .external:
            throw TallyError(.invalidArgument, "an external model's initial parameters come from its safetensors file")
        }
    }

    public init(spec: ModelSpec, parameters: [Float], features: FeatureTransform = .none, standardization: Standardization? = nil) {
        self.spec = spec
        self.parameters = parameters
        self.features = features
        self.standardization = standardization
    }

    /// The same task (architecture, features, standardization) with other parameters: what a
    /// round's step produces.
    public func with(parameters: [Float]) -> ModelState {
        ModelState(spec: spec, parameters: parameters, features: features, standardization: standardization)
    }

    /// The same model under another standardization (the measured one, after a moments round).
    public func with(standardization: Standardization?) -> ModelState {
        ModelState(spec: spec, parameters: parameters, features: features, standardization: standardization)
    }

    /// The model's inputs per example for the built-in architectures; nil for the others.
    public var inputCount: Int? {
        switch spec {
        case .logisticRegression(let f, _), .multilayerPerceptron(let f, _, _, _): f
        case .external, .flat: nil
        }
    }

    /// Whether the next round on this model measures the standardization's moments instead of
    /// training (``Standardization/isPending``).
    public var measuresMoments: Bool { standardization?.isPending == true }

    /// The length of the vector each participant contributes in a round on this model: the
    /// parameter count, or a moments vector's length while the standardization is pending. Both
    /// sides derive the round's encoding from it.
    public var roundVectorLength: Int {
        guard measuresMoments, let inputs = inputCount else { return parameterCount }
        return Standardization.momentsLength(featureCount: inputs)
    }

    /// `data` (already through ``features``) as the model reads it: standardized when the
    /// standardization is measured, as is otherwise.
    public func inputs(_ data: Dataset) throws(TallyError) -> Dataset {
        guard let standardization, !standardization.isPending else { return data }
        return try standardization.apply(to: data)
    }

    /// The model stored in `file`: its spec from the metadata, its parameters checked against
    /// the spec's layout.
    public init(safeTensors file: SafeTensors) throws(TallyError) {
        let spec = try ModelSpec(describing: file)
        var features = FeatureTransform.none
        if let name = file.metadata[Self.featuresKey] {
            guard let known = FeatureTransform(rawValue: name) else {
                throw TallyError(
                    .invalidArgument,
                    "model file metadata \"\(Self.featuresKey)\" is \"\(name)\"; known: \(FeatureTransform.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            features = known
        }
        var standardization: Standardization?
        if let text = file.metadata[Standardization.metadataKey] {
            switch spec {
            case .logisticRegression(let f, _), .multilayerPerceptron(let f, _, _, _):
                standardization = try Standardization.fromMetadata(text, featureCount: f)
            case .external, .flat:
                throw TallyError(
                    .invalidArgument, "model file metadata \"\(Standardization.metadataKey)\" applies to built-in models only")
            }
        }
        self.init(
            spec: spec, parameters: try spec.layout.parameters(of: file, source: "model file"), features: features,
            standardization: standardization)
    }

    public var parameterCount: Int { parameters.count }

    public func safeTensors() throws(TallyError) -> SafeTensors {
        var metadata = spec.metadata
        if features != .none { metadata[Self.featuresKey] = features.rawValue }
        if let standardization { metadata[Standardization.metadataKey] = try standardization.metadataValue() }
        return try spec.layout.safeTensors(parameters, metadata: metadata)
    }

    /// The model as a ``Classifier``, for the built-in architectures; nil for the others.
    public func classifier() throws(TallyError) -> (any Classifier)? {
        switch spec {
        case .logisticRegression(let f, let c):
            return try LogisticRegression(featureCount: f, classCount: c, parameters: parameters)
        case .multilayerPerceptron:
            return try MultilayerPerceptron(spec: spec, parameters: parameters)
        case .external, .flat:
            return nil
        }
    }

    /// Classes of the built-in architectures; nil for the others.
    public var classCount: Int? {
        switch spec {
        case .logisticRegression(_, let c), .multilayerPerceptron(_, _, _, let c): c
        case .external, .flat: nil
        }
    }

    /// Test accuracy on `data`, for the built-in classifiers; nil for models the daemon cannot run.
    public func accuracy(on data: Dataset) throws(TallyError) -> Double? {
        try classifier()?.accuracy(on: data)
    }

    /// ROC AUC on `data` for a built-in two-class model (``Classifier/auc(on:indices:)``); nil
    /// otherwise, or when `data` lacks one of the classes.
    public func auc(on data: Dataset) throws(TallyError) -> Double? {
        try classifier()?.auc(on: data)
    }

    /// Accuracy and mean cross-entropy on `data`, for the built-in classifiers; nil for models the
    /// daemon cannot run.
    public func evaluate(on data: Dataset) throws(TallyError) -> (accuracy: Double, loss: Double)? {
        guard let model = try classifier() else { return nil }
        return (try model.accuracy(on: data), try model.loss(on: data))
    }
}
