public import TallyCore

/// The global model as the engine sees it: a flat parameter vector and how it is stored.
/// Logistic regression for real federations; a plain vector of a chosen dimension for the
/// round benchmark (no-op trainers, no evaluation). Training is not here: a ``Trainer`` turns
/// the parameters into an update, an ``Aggregator`` turns the mean update into the next state.
public struct ModelState: Sendable {
    public enum Kind: Sendable { case logisticRegression, flat }

    public let kind: Kind
    public var parameters: [Float]

    public static let flatTensorName = "parameters"

    public static func initial(syntheticDimension: Int?) -> ModelState {
        if let d = syntheticDimension {
            return ModelState(kind: .flat, parameters: [Float](repeating: 0, count: d))
        }
        return ModelState(kind: .logisticRegression, parameters: LogisticRegression().parameters)
    }

    public init(kind: Kind, parameters: [Float]) {
        self.kind = kind
        self.parameters = parameters
    }

    public init(safeTensors file: SafeTensors) throws(TallyError) {
        if let tensor = file[Self.flatTensorName] {
            self.init(kind: .flat, parameters: try tensor.floatValues())
        } else {
            self.init(kind: .logisticRegression, parameters: try LogisticRegression(safeTensors: file).parameters)
        }
    }

    public var parameterCount: Int { parameters.count }

    public func safeTensors() throws(TallyError) -> SafeTensors {
        switch kind {
        case .logisticRegression:
            return try LogisticRegression(parameters: parameters).safeTensors(metadata: ["format": "tally-logistic-regression/v1"])
        case .flat:
            return try SafeTensors(
                tensors: [Self.flatTensorName: SafeTensors.Tensor(shape: [parameters.count], values: parameters)],
                metadata: ["format": "tally-flat/v1"])
        }
    }

    public func accuracy(on data: Dataset) throws(TallyError) -> Double? {
        guard kind == .logisticRegression else { return nil }
        return try LogisticRegression(parameters: parameters).accuracy(on: data)
    }
}
