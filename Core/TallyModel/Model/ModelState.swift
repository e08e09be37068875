public import TallyCore

/// The global model as the engine sees it: what it is (``ModelSpec``) and its flat parameter
/// vector. Training is not here: a ``Trainer`` turns the parameters into an update, an
/// ``Aggregator`` turns the mean update into the next state.
public struct ModelState: Sendable {
    public let spec: ModelSpec
    public var parameters: [Float]

    /// An all-zero model of `spec` (the usual start for logistic regression and the benchmark).
    public static func zeros(_ spec: ModelSpec) throws(TallyError) -> ModelState {
        ModelState(spec: spec, parameters: [Float](repeating: 0, count: try spec.layout.parameterCount))
    }

    public init(spec: ModelSpec, parameters: [Float]) {
        self.spec = spec
        self.parameters = parameters
    }

    /// The model stored in `file`: its spec from the metadata, its parameters checked against
    /// the spec's layout.
    public init(safeTensors file: SafeTensors) throws(TallyError) {
        let spec = try ModelSpec(describing: file)
        self.init(spec: spec, parameters: try spec.layout.parameters(of: file, source: "model file"))
    }

    public var parameterCount: Int { parameters.count }

    public func safeTensors() throws(TallyError) -> SafeTensors {
        try spec.layout.safeTensors(parameters, metadata: spec.metadata)
    }

    /// Test accuracy on `data`, for the built-in classifiers; nil for models the daemon cannot run.
    public func accuracy(on data: Dataset) throws(TallyError) -> Double? {
        switch spec {
        case .logisticRegression(let f, let c):
            return try LogisticRegression(featureCount: f, classCount: c, parameters: parameters).accuracy(on: data)
        case .multilayerPerceptron, .external, .flat:
            return nil
        }
    }
}
