import TallyCore
import TallyModel

/// What the federation trains, as the operator writes it in `coordinator.json` (`model`): a
/// built-in architecture with its sizes, or an external one given as an initial safetensors file
/// whose tensor names and shapes are the contract every site's trainer must return. Initial
/// weights of built-in models come from `initialSeed`, so a run is reproducible.
public struct ModelSettings: Sendable, Codable, Hashable {
    /// `logistic-regression`, `mlp` or `external`.
    public var kind = "logistic-regression"
    /// Inputs per example as the sites' data holds them (784 for Fashion-MNIST's 28×28 images);
    /// with `features` other than `none`, the model's own inputs are what the transform makes of them.
    public var featureCount = FashionMNIST.featureCount
    /// A fixed map every site applies to its examples before training, and the coordinator to
    /// its evaluation data (``FeatureTransform``): `none`, or `scattering` (ScatterNet features of
    /// square images, 3969 for 28×28). Built-in models only.
    public var features = FeatureTransform.none.rawValue

    /// `features` as a transform (`none` for a name `validate()` refuses).
    public var featureTransform: FeatureTransform { FeatureTransform(rawValue: features) ?? .none }
    /// Number of classes.
    public var classCount = FashionMNIST.classCount
    /// `mlp`: the hidden layers' widths.
    public var hidden = [256]
    /// `mlp`: `relu` or `tanh`, after every hidden layer.
    public var activation = ModelSpec.Activation.relu.rawValue
    /// `external`: the initial model (safetensors, F32 tensors).
    public var initialWeights: String?
    /// Seed of a built-in model's initial weights.
    public var initialSeed: UInt64 = 1
    /// Per-feature standardization after `features` (``Standardization``): `lower` and `upper`
    /// (public bounds; the federation's first round measures each feature's mean and spread under
    /// secure aggregation with noise, charged like a round and counted among `rounds`), or `mean`
    /// and `scale` (a fixed scaling). One value may stand for every feature. nil: none.
    public var standardization: Standardization?

    public static let kinds = ["logistic-regression", "mlp", "external"]

    public init() {}

    public func validate() throws(TallyError) {
        guard Self.kinds.contains(kind) else {
            throw TallyError(.invalidArgument, "model.kind must be one of \(Self.kinds.joined(separator: ", ")), got \(kind)")
        }
        guard featureCount >= 1, (2...256).contains(classCount) else {
            throw TallyError(
                .invalidArgument, "model needs featureCount ≥ 1 and classCount in 2...256, got \(featureCount) and \(classCount)")
        }
        if kind == "mlp" {
            guard !hidden.isEmpty, hidden.allSatisfy({ (1...1 << 16).contains($0) }) else {
                throw TallyError(.invalidArgument, "model.hidden must list at least one width, each in 1...65536, got \(hidden)")
            }
            guard ModelSpec.Activation(rawValue: activation) != nil else {
                throw TallyError(.invalidArgument, "model.activation must be relu or tanh, got \(activation)")
            }
        }
        guard let transform = FeatureTransform(rawValue: features) else {
            throw TallyError(
                .invalidArgument,
                "model.features must be one of \(FeatureTransform.allCases.map(\.rawValue).joined(separator: ", ")), got \(features)")
        }
        if transform != .none {
            guard kind != "external" else {
                throw TallyError(.invalidArgument, "model.features applies to built-in models; an external trainer sees its own inputs")
            }
            _ = try modelFeatureCount(transform)
        }
        if let standardization {
            guard kind != "external" else {
                throw TallyError(
                    .invalidArgument, "model.standardization applies to built-in models; an external trainer sees its own inputs")
            }
            try standardization.validate(featureCount: try modelFeatureCount(transform), what: "model.standardization")
        }
        if kind == "external", initialWeights == nil {
            throw TallyError(.invalidArgument, "model.kind external needs model.initialWeights (a safetensors file)")
        }
    }

    /// The federation's first model: a built-in one's seeded initial weights, or the external
    /// one's initial file.
    public func initialModel() throws(TallyError) -> ModelState {
        let transform = featureTransform
        let inputs = try modelFeatureCount(transform)
        switch kind {
        case "mlp":
            let spec = ModelSpec.multilayerPerceptron(
                featureCount: inputs, hidden: hidden, activation: ModelSpec.Activation(rawValue: activation) ?? .relu,
                classCount: classCount)
            return try ModelState.initial(spec, seed: initialSeed, features: transform).with(standardization: standardization)
        case "external":
            let path = initialWeights ?? ""
            let file = try SafeTensors(contentsOfFile: path)
            let layout: TensorLayout
            do { layout = try TensorLayout(describing: file) } catch {
                throw TallyError(error.code, "model.initialWeights \(path): \(error.message)")
            }
            return ModelState(spec: .external(layout), parameters: try layout.parameters(of: file, source: path))
        default:
            return try ModelState.zeros(.logisticRegression(featureCount: inputs, classCount: classCount), features: transform)
                .with(standardization: standardization)
        }
    }

    /// The model's inputs: `featureCount`, or what `transform` makes of a square image of that many pixels.
    func modelFeatureCount(_ transform: FeatureTransform) throws(TallyError) -> Int {
        guard transform != .none else { return featureCount }
        let side = try FeatureTransform.squareSide(featureCount: featureCount)
        do { return try transform.outputFeatureCount(inputHeight: side, inputWidth: side) } catch {
            throw TallyError(error.code, "model.features \(transform.rawValue): \(error.message)")
        }
    }
}
