public import TallyCore

/// What a federation's task expects of every organization's data: the features, in the order
/// the model reads them, and the classes a label names.
///
/// Sources are checked against it before anything trains, so a site whose columns, shapes or
/// labels differ finds out at start-up, with the file and place named, rather than training a
/// model on misaligned features. Tabular tasks name their features (a CSV source matches its
/// columns by these names, in any order); image-like tasks give only `featureCount`.
public struct DataSchema: Sendable, Codable, Hashable {
    /// Feature names in model order, or nil where only the count matters (images, arrays).
    public let featureNames: [String]?
    /// Features per example: `featureNames.count` when names are given.
    public let featureCount: Int
    /// Class names in label order: label i is `classes[i]`; a source may give a label as its
    /// index or its name.
    public let classes: [String]

    /// Largest feature count accepted: a schema is configuration, and a typo must not size a
    /// gigabyte allocation.
    public static let maxFeatureCount = 1 << 24

    /// A tabular schema: features matched by name.
    public init(featureNames: [String], classes: [String]) throws(TallyError) {
        try self.init(names: featureNames, count: featureNames.count, classes: classes)
    }

    /// An image-like schema: only the number of features matters.
    public init(featureCount: Int, classes: [String]) throws(TallyError) {
        try self.init(names: nil, count: featureCount, classes: classes)
    }

    private init(names: [String]?, count: Int, classes: [String]) throws(TallyError) {
        if let problem = Self.problem(names: names, count: count, classes: classes) {
            throw TallyError(.invalidArgument, "data schema: \(problem)")
        }
        featureNames = names
        featureCount = count
        self.classes = classes
    }

    /// Fashion-MNIST's: 784 pixels, ten named classes — the task the coordinator runs today.
    public static let fashionMNIST = DataSchema(
        checked: nil, count: FashionMNIST.featureCount, classes: FashionMNIST.classNames)

    private init(checked names: [String]?, count: Int, classes: [String]) {
        featureNames = names
        featureCount = count
        self.classes = classes
    }

    /// The class a label names: its exact name, or its index written in decimal.
    public func classIndex(of text: some StringProtocol) -> Int? {
        if let i = classes.firstIndex(where: { $0 == text }) { return i }
        guard let i = Int(text), classes.indices.contains(i) else { return nil }
        return i
    }

    /// Why these values do not make a schema, or nil.
    static func problem(names: [String]?, count: Int, classes: [String]) -> String? {
        guard (1...maxFeatureCount).contains(count) else {
            return "featureCount must be in 1...\(maxFeatureCount), got \(count)"
        }
        if let names {
            guard names.count == count else {
                return "featureCount is \(count) but featureNames has \(names.count) names"
            }
            if let empty = names.firstIndex(of: "") { return "featureNames[\(empty)] is empty" }
            if let repeated = firstRepeat(names) {
                let (first, again) = repeated
                return "featureNames[\(again)] repeats featureNames[\(first)] \"\(names[first])\""
            }
        }
        guard (1...256).contains(classes.count) else {
            return "classes must name 1 to 256 classes (labels are bytes), got \(classes.count)"
        }
        if let empty = classes.firstIndex(of: "") { return "classes[\(empty)] is empty" }
        if let repeated = firstRepeat(classes) {
            let (first, again) = repeated
            return "classes[\(again)] repeats classes[\(first)] \"\(classes[first])\""
        }
        // A label is a name or an index; a name that reads as another index would be ambiguous.
        for (i, name) in classes.enumerated() {
            if let n = Int(name), n != i { return "classes[\(i)] is \"\(name)\", a number other than its index \(i)" }
        }
        return nil
    }

    private static func firstRepeat(_ values: [String]) -> (Int, Int)? {
        var seen: [String: Int] = [:]
        for (i, value) in values.enumerated() {
            if let first = seen[value] { return (first, i) }
            seen[value] = i
        }
        return nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case featureNames, featureCount, classes
    }

    /// Strict: unknown keys are refused, `featureCount` may be left out when `featureNames`
    /// gives it, and the values must make a schema.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "a data schema")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let names = try container.decodeIfPresent([String].self, forKey: .featureNames)
        let given = try container.decodeIfPresent(Int.self, forKey: .featureCount)
        guard let count = given ?? names?.count else {
            throw StrictKeys.invalid(decoder, nil, "a data schema needs featureNames or featureCount")
        }
        guard container.contains(.classes) else {
            throw StrictKeys.invalid(decoder, nil, "a data schema needs classes (the class names, in label order)")
        }
        let classes = try container.decode([String].self, forKey: .classes)
        if let problem = Self.problem(names: names, count: count, classes: classes) {
            throw StrictKeys.invalid(decoder, nil, problem)
        }
        self.init(checked: names, count: count, classes: classes)
    }
}
