public import TallyCore

/// What the federation trains: an architecture and its sizes. It fixes the ``TensorLayout`` (so
/// the length of the securely summed vector), travels in every model file's metadata, and tells
/// a participant which built-in trainer to run or which tensors an external trainer must return.
public enum ModelSpec: Sendable, Hashable {
    /// Multinomial logistic regression: tensors `weight` [classes, features] and `bias` [classes].
    case logisticRegression(featureCount: Int, classCount: Int)
    /// A multilayer perceptron: for each layer i (0-based, inputs first) `layers.i.weight`
    /// [out, in] and `layers.i.bias` [out]; `hidden` are the hidden widths, `activation` follows
    /// every hidden layer, the last layer gives the class scores.
    case multilayerPerceptron(featureCount: Int, hidden: [Int], activation: Activation, classCount: Int)
    /// A model trained outside the daemon: its tensors are the ones of the operator's initial
    /// safetensors file.
    case external(TensorLayout)
    /// Benchmark only: one tensor `parameters` [dimension] (no-op trainers, no evaluation).
    case flat(dimension: Int)

    public enum Activation: String, Sendable, Hashable, Codable, CaseIterable {
        case relu, tanh
    }

    /// The metadata key of model files that names the spec's format.
    public static let formatKey = "format"

    /// Logistic regression over Fashion-MNIST: the demonstration model.
    public static let fashionMNISTLogisticRegression = ModelSpec.logisticRegression(
        featureCount: FashionMNIST.featureCount, classCount: FashionMNIST.classCount)

    /// The tensors, in vector order.
    public var layout: TensorLayout {
        get throws(TallyError) {
            switch self {
            case .logisticRegression(let f, let c):
                try Self.checkPositive(["featureCount": f, "classCount": c])
                return try TensorLayout([.init(name: "weight", shape: [c, f]), .init(name: "bias", shape: [c])])
            case .multilayerPerceptron(let f, let hidden, _, let c):
                try Self.checkPositive(["featureCount": f, "classCount": c])
                guard !hidden.isEmpty, hidden.allSatisfy({ $0 > 0 }) else {
                    throw TallyError(.invalidArgument, "an MLP needs at least one hidden layer, each wider than 0, got \(hidden)")
                }
                let widths = [f] + hidden + [c]
                var entries: [TensorLayout.Entry] = []
                for i in 0..<(widths.count - 1) {
                    entries.append(.init(name: "layers.\(i).weight", shape: [widths[i + 1], widths[i]]))
                    entries.append(.init(name: "layers.\(i).bias", shape: [widths[i + 1]]))
                }
                return try TensorLayout(entries)
            case .external(let layout):
                return layout
            case .flat(let d):
                try Self.checkPositive(["dimension": d])
                return try TensorLayout([.init(name: "parameters", shape: [d])])
            }
        }
    }

    /// The metadata written into every model file of this spec: enough, with the tensors'
    /// shapes, to read the spec back (``init(describing:)``).
    public var metadata: [String: String] {
        switch self {
        case .logisticRegression: [Self.formatKey: "tally-logistic-regression/v1"]
        case .multilayerPerceptron(_, _, let activation, _): [Self.formatKey: "tally-mlp/v1", "activation": activation.rawValue]
        case .external: [Self.formatKey: "tally-external/v1"]
        case .flat: [Self.formatKey: "tally-flat/v1"]
        }
    }

    /// The spec a model file was written with, from its metadata and shapes. A file without a
    /// format (written before formats were recorded) is read as logistic regression or flat.
    public init(describing file: SafeTensors) throws(TallyError) {
        switch file.metadata[Self.formatKey] {
        case "tally-logistic-regression/v1":
            self = try Self.logisticRegression(file)
        case "tally-flat/v1":
            self = try Self.flat(file)
        case "tally-mlp/v1":
            guard let name = file.metadata["activation"], let activation = Activation(rawValue: name) else {
                throw TallyError(.invalidArgument, "an MLP model file needs metadata \"activation\" (relu or tanh)")
            }
            var widths: [Int] = []
            var layer = 0
            while let weight = file["layers.\(layer).weight"] {
                guard weight.shape.count == 2 else {
                    throw TallyError(.sizeMismatch, "layers.\(layer).weight must be [out, in], got \(weight.shape)")
                }
                if layer == 0 { widths.append(weight.shape[1]) }
                widths.append(weight.shape[0])
                layer += 1
            }
            guard widths.count >= 3 else { throw TallyError(.invalidArgument, "an MLP model file needs at least two layers") }
            self = .multilayerPerceptron(
                featureCount: widths[0], hidden: Array(widths[1..<(widths.count - 1)]), activation: activation,
                classCount: widths[widths.count - 1])
        case "tally-external/v1":
            self = .external(try TensorLayout(describing: file))
        case nil:
            self = file["parameters"] != nil ? try Self.flat(file) : try Self.logisticRegression(file)
        case let format?:
            throw TallyError(.invalidArgument, "unknown model format \"\(format)\"")
        }
    }

    private static func logisticRegression(_ file: SafeTensors) throws(TallyError) -> ModelSpec {
        guard let weight = file["weight"], weight.shape.count == 2 else {
            throw TallyError(.sizeMismatch, "a logistic-regression model needs a tensor \"weight\" [classes, features]")
        }
        return .logisticRegression(featureCount: weight.shape[1], classCount: weight.shape[0])
    }

    private static func flat(_ file: SafeTensors) throws(TallyError) -> ModelSpec {
        guard let tensor = file["parameters"], tensor.shape.count == 1 else {
            throw TallyError(.sizeMismatch, "a flat model needs a tensor \"parameters\" [dimension]")
        }
        return .flat(dimension: tensor.shape[0])
    }

    private static func checkPositive(_ values: KeyValuePairs<String, Int>) throws(TallyError) {
        for (key, value) in values where value <= 0 {
            throw TallyError(.invalidArgument, "\(key) must be positive, got \(value)")
        }
    }
}
