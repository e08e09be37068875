public import TallyCore

/// Where one organization's examples come from: a file of its own (CSV, NumPy arrays,
/// safetensors, IDX) or the Fashion-MNIST partition of the demonstration, and how much of it
/// to hold out for local evaluation.
///
/// One flat object whose `kind` says which keys apply, so it reads the same in a JSON file as
/// in the documentation. Keys of other kinds are refused rather than ignored (a `labelColumn`
/// on an `npy` source means the file is not what its author thinks), as are unknown keys.
/// Kind-specific keys are optional; absent ones take the defaults below.
public struct DataSourceConfiguration: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        case csv
        case npy
        case safetensors
        case idx
        case fashionMNISTPartition = "fashion-mnist-partition"
    }

    public var kind: Kind = .csv
    /// `csv` and `safetensors`: the file.
    public var path: String?
    /// `csv`: the column holding the label (default `label`).
    public var labelColumn: String?
    /// `csv`, `npy`, `safetensors`, `idx`: the largest file accepted, in bytes (default 1 GiB).
    public var maxBytes: Int?
    /// `npy`: the features array, shape [N, …].
    public var featuresPath: String?
    /// `npy` and `idx`: the labels array, shape [N].
    public var labelsPath: String?
    /// `safetensors`: the tensor names (defaults `features` and `labels`).
    public var featuresTensor: String?
    public var labelsTensor: String?
    /// `idx`: the images (unsigned bytes, scaled to 0…1 as Fashion-MNIST's are).
    public var imagesPath: String?
    /// `fashion-mnist-partition`: where the IDX files are and which Dirichlet part to take.
    public var directory: String?
    public var organizations: Int?
    public var index: Int?
    public var alpha: Double?
    public var seed: UInt64?
    /// The fraction of the examples held out from training for local evaluation, in [0, 1).
    public var heldOutFraction = 0.0
    /// The seed that picks them.
    public var heldOutSeed: UInt64 = 0

    public static let defaultLabelColumn = "label"
    public static let defaultMaxBytes = 1 << 30
    public static let defaultFeaturesTensor = "features"
    public static let defaultLabelsTensor = "labels"

    public init() {}

    public init(kind: Kind) { self.kind = kind }

    /// A CSV file.
    public static func csv(path: String, labelColumn: String? = nil, maxBytes: Int? = nil) -> Self {
        var c = Self(kind: .csv)
        c.path = path
        c.labelColumn = labelColumn
        c.maxBytes = maxBytes
        return c
    }

    /// The keys each kind uses, besides `kind` and the held-out pair.
    public static func keys(of kind: Kind) -> [String] {
        switch kind {
        case .csv: ["path", "labelColumn", "maxBytes"]
        case .npy: ["featuresPath", "labelsPath", "maxBytes"]
        case .safetensors: ["path", "featuresTensor", "labelsTensor", "maxBytes"]
        case .idx: ["imagesPath", "labelsPath", "maxBytes"]
        case .fashionMNISTPartition: ["directory", "organizations", "index", "alpha", "seed"]
        }
    }

    /// The keys of this source that are set, by name.
    private var setKeys: [String] {
        let values: [(String, Bool)] = [
            ("path", path != nil), ("labelColumn", labelColumn != nil), ("maxBytes", maxBytes != nil),
            ("featuresPath", featuresPath != nil), ("labelsPath", labelsPath != nil), ("featuresTensor", featuresTensor != nil),
            ("labelsTensor", labelsTensor != nil), ("imagesPath", imagesPath != nil), ("directory", directory != nil),
            ("organizations", organizations != nil), ("index", index != nil), ("alpha", alpha != nil), ("seed", seed != nil),
        ]
        return values.filter(\.1).map(\.0)
    }

    /// The first problem with these values, as (key, text), or nil.
    func problem() -> (key: String?, text: String)? {
        let allowed = Self.keys(of: kind)
        if let stray = setKeys.first(where: { !allowed.contains($0) }) {
            return (stray, "\"\(stray)\" does not apply to a \(kind.rawValue) source (its keys: \(allowed.joined(separator: ", ")))")
        }
        let required: [(String, String?)] =
            switch kind {
            case .csv, .safetensors: [("path", path)]
            case .npy: [("featuresPath", featuresPath), ("labelsPath", labelsPath)]
            case .idx: [("imagesPath", imagesPath), ("labelsPath", labelsPath)]
            case .fashionMNISTPartition: []
            }
        for (key, value) in required {
            guard let value else { return (nil, "a \(kind.rawValue) source needs \"\(key)\"") }
            if value.isEmpty { return (key, "\"\(key)\" is empty") }
        }
        if let maxBytes, maxBytes <= 0 { return ("maxBytes", "maxBytes must be positive, got \(maxBytes)") }
        if labelColumn?.isEmpty == true { return ("labelColumn", "labelColumn is empty") }
        if featuresTensor?.isEmpty == true { return ("featuresTensor", "featuresTensor is empty") }
        if labelsTensor?.isEmpty == true { return ("labelsTensor", "labelsTensor is empty") }
        if kind == .fashionMNISTPartition {
            let organizations = self.organizations ?? 5
            guard organizations >= 1 else { return ("organizations", "organizations must be at least 1, got \(organizations)") }
            guard (0..<organizations).contains(index ?? 0) else {
                return ("index", "index must be in 0..<organizations (0..<\(organizations)), got \(index ?? 0)")
            }
            let alpha = self.alpha ?? 1
            guard alpha > 0, alpha.isFinite else { return ("alpha", "alpha must be positive and finite") }
        }
        guard heldOutFraction.isFinite, heldOutFraction >= 0, heldOutFraction < 1 else {
            return ("heldOutFraction", "heldOutFraction must be in [0, 1), got \(heldOutFraction)")
        }
        return nil
    }

    /// Checks the values; the message names the key it is about.
    public func validate() throws(TallyError) {
        if let problem = problem() { throw TallyError(.invalidArgument, problem.text) }
    }

    /// What it is, for a log line: the kind and its file.
    public var summary: String {
        switch kind {
        case .csv, .safetensors: "\(kind.rawValue) \(path ?? "")"
        case .npy: "npy \(featuresPath ?? "") + \(labelsPath ?? "")"
        case .idx: "idx \(imagesPath ?? "") + \(labelsPath ?? "")"
        case .fashionMNISTPartition:
            "fashion-mnist-partition \((index ?? 0) + 1)/\(organizations ?? 5) of \(directory ?? FashionMNIST.defaultDirectory)"
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, path, labelColumn, maxBytes, featuresPath, labelsPath, featuresTensor, labelsTensor, imagesPath
        case directory, organizations, index, alpha, seed, heldOutFraction, heldOutSeed
    }

    /// Strict: unknown keys, a missing or unknown kind, keys of another kind and out-of-range
    /// values are decoding errors at their key, which ``StrictJSON`` reports with file and line.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "a data source")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kinds = Kind.allCases.map(\.rawValue)
        guard let name = try c.decodeIfPresent(String.self, forKey: .kind) else {
            throw StrictKeys.invalid(decoder, nil, "a data source needs \"kind\" (\(kinds.joined(separator: ", ")))")
        }
        guard let kind = Kind(rawValue: name) else {
            var text = "kind \"\(name)\" is not one of \(kinds.joined(separator: ", "))"
            if let near = StrictJSON.closest(to: name, in: kinds) { text += "; did you mean \"\(near)\"?" }
            throw StrictKeys.invalid(decoder, "kind", text)
        }
        self.kind = kind
        path = try c.decodeIfPresent(String.self, forKey: .path)
        labelColumn = try c.decodeIfPresent(String.self, forKey: .labelColumn)
        maxBytes = try c.decodeIfPresent(Int.self, forKey: .maxBytes)
        featuresPath = try c.decodeIfPresent(String.self, forKey: .featuresPath)
        labelsPath = try c.decodeIfPresent(String.self, forKey: .labelsPath)
        featuresTensor = try c.decodeIfPresent(String.self, forKey: .featuresTensor)
        labelsTensor = try c.decodeIfPresent(String.self, forKey: .labelsTensor)
        imagesPath = try c.decodeIfPresent(String.self, forKey: .imagesPath)
        directory = try c.decodeIfPresent(String.self, forKey: .directory)
        organizations = try c.decodeIfPresent(Int.self, forKey: .organizations)
        index = try c.decodeIfPresent(Int.self, forKey: .index)
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        heldOutFraction = try c.decodeIfPresent(Double.self, forKey: .heldOutFraction) ?? 0
        heldOutSeed = try c.decodeIfPresent(UInt64.self, forKey: .heldOutSeed) ?? 0
        if let problem = problem() {
            // Point at the key when the file has it, else at the kind.
            let key = problem.key.flatMap { c.contains(CodingKeys(rawValue: $0)!) ? $0 : nil } ?? "kind"
            throw StrictKeys.invalid(decoder, key, problem.text)
        }
    }

    // MARK: Loading

    /// Reads the source, checks it against `schema` and splits off the held-out part.
    public func load(schema: DataSchema) throws(TallyError) -> LocalDataset {
        try validate()
        let dataset = try loadAll(schema: schema)
        return try LocalDataset(splitting: dataset, heldOutFraction: heldOutFraction, seed: heldOutSeed)
    }

    /// Every example of the source, in the schema's shape.
    func loadAll(schema: DataSchema) throws(TallyError) -> Dataset {
        let limit = maxBytes ?? Self.defaultMaxBytes
        switch kind {
        case .csv:
            return try CSVReader.read(path: path!, schema: schema, labelColumn: labelColumn ?? Self.defaultLabelColumn, maxBytes: limit)
        case .npy:
            let features = try NPYReader.read(path: featuresPath!, maxBytes: limit)
            let labels = try NPYReader.read(path: labelsPath!, maxBytes: limit)
            return try ArraySource.dataset(
                features: ArraySource.Input(file: featuresPath!, shape: features.shape, element: features.element) {
                    features.withData($0)
                },
                labels: ArraySource.Input(file: labelsPath!, shape: labels.shape, element: labels.element) { labels.withData($0) },
                schema: schema)
        case .safetensors:
            let file = try SafeTensors(contentsOfFile: path!, limits: SafeTensors.Limits(maxFileBytes: limit))
            func tensor(_ name: String, _ key: String) throws(TallyError) -> ArraySource.Input {
                guard let tensor = file[name] else {
                    throw TallyError(
                        .dataSchemaMismatch,
                        "\(path!): no tensor \"\(name)\" (\(key)); the file has \(file.sortedNames.map { "\"\($0)\"" }.joined(separator: ", "))"
                    )
                }
                return ArraySource.Input(
                    file: "\(path!) tensor \"\(name)\"", shape: tensor.shape, element: NumericElement(tensor.dtype)
                ) { tensor.bytes.withUnsafeBytes($0) }
            }
            return try ArraySource.dataset(
                features: tensor(featuresTensor ?? Self.defaultFeaturesTensor, "featuresTensor"),
                labels: tensor(labelsTensor ?? Self.defaultLabelsTensor, "labelsTensor"), schema: schema)
        case .idx:
            let images = try IDXReader.read(path: imagesPath!, maxBytes: limit)
            let labels = try IDXReader.read(path: labelsPath!, expectedMagic: IDXReader.labelsMagic, maxBytes: limit)
            let scaled = ArraySource.Input(file: imagesPath!, shape: images.dimensions, element: .uint8) {
                images.bytes.withUnsafeBytes($0)
            }
            let dataset = try ArraySource.dataset(
                features: scaled,
                labels: ArraySource.Input(file: labelsPath!, shape: labels.dimensions, element: .uint8) {
                    labels.bytes.withUnsafeBytes($0)
                },
                schema: schema)
            // Pixels 0…255 to 0…1, as Fashion-MNIST's loader does, so either trains the same model.
            return try Dataset(
                features: dataset.features.map { $0 / 255 }, labels: dataset.labels, featureCount: dataset.featureCount,
                classCount: dataset.classCount)
        case .fashionMNISTPartition:
            guard schema.featureCount == FashionMNIST.featureCount, schema.classes.count == FashionMNIST.classCount else {
                throw TallyError(
                    .dataSchemaMismatch,
                    "a fashion-mnist-partition source gives \(FashionMNIST.featureCount) features and \(FashionMNIST.classCount) classes; the schema has \(schema.featureCount) and \(schema.classes.count)"
                )
            }
            let train = try FashionMNIST.loadSplit(directory: directory ?? FashionMNIST.defaultDirectory, prefix: "train")
            let partition = try DirichletPartition(
                labels: train.labels, classCount: FashionMNIST.classCount, organizations: organizations ?? 5, alpha: alpha ?? 1,
                seed: seed ?? 7)
            return try train.subset(partition.indices[index ?? 0])
        }
    }
}

extension NumericElement {
    init(_ dtype: SafeTensors.DType) {
        switch dtype {
        case .float32: self = .float32
        case .float64: self = .float64
        case .uint8: self = .uint8
        case .int8: self = .int8
        case .int16: self = .int16
        case .uint16: self = .uint16
        case .int32: self = .int32
        case .uint32: self = .uint32
        case .int64: self = .int64
        }
    }
}

/// Features and labels from two numeric arrays (NumPy, safetensors, IDX), checked against a schema.
enum ArraySource {
    struct Input {
        /// Names the array in errors: a file, or a file and tensor.
        var file: String
        var shape: [Int]
        var element: NumericElement
        var withData: ((UnsafeRawBufferPointer) -> Void) -> Void

        init(file: String, shape: [Int], element: NumericElement, withData: @escaping ((UnsafeRawBufferPointer) -> Void) -> Void) {
            self.file = file
            self.shape = shape
            self.element = element
            self.withData = withData
        }

        func shapeText() -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
    }

    /// Features of shape [N, …] (everything after N flattened, in C order) and labels of shape [N].
    static func dataset(features: Input, labels: Input, schema: DataSchema) throws(TallyError) -> Dataset {
        guard let count = features.shape.first else {
            throw TallyError(.dataSchemaMismatch, "\(features.file): features have shape [] (a scalar); expected [examples, …]")
        }
        // Checked: with no examples (N = 0) the file has no data to bound the other dimensions.
        var perExample = 1
        for dimension in features.shape.dropFirst() {
            let (product, overflow) = perExample.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw TallyError(
                    .dataSchemaMismatch, "\(features.file): features have shape \(features.shapeText()), too many values per example")
            }
            perExample = product
        }
        guard perExample == schema.featureCount else {
            throw TallyError(
                .dataSchemaMismatch,
                "\(features.file): features have shape \(features.shapeText()), \(perExample) per example; the schema has \(schema.featureCount)"
            )
        }
        guard labels.shape == [count] || labels.shape == [count, 1] else {
            throw TallyError(
                .dataSchemaMismatch,
                "\(labels.file): labels have shape \(labels.shapeText()); expected [\(count)], one per example of the features")
        }
        var featureValues: Result<[Float], ElementProblem> = .success([])
        features.withData { featureValues = features.element.features($0, count: count * perExample) }
        let values: [Float]
        switch featureValues {
        case .success(let v): values = v
        case .failure(let problem):
            throw TallyError(
                .malformedDataset,
                "\(features.file): example \(problem.index / perExample), feature \(problem.index % perExample): \(problem.text)")
        }
        var labelValues: Result<[UInt8], ElementProblem> = .success([])
        labels.withData { labelValues = labels.element.labels($0, count: count, classCount: schema.classes.count) }
        switch labelValues {
        case .success(let l):
            return try Dataset(features: values, labels: l, featureCount: perExample, classCount: schema.classes.count)
        case .failure(let problem):
            throw TallyError(.dataSchemaMismatch, "\(labels.file): example \(problem.index): \(problem.text)")
        }
    }
}
