public import TallyCore

/// How a flat parameter vector maps to named tensors: the contract between the vector that is
/// clipped, noised and securely summed, and the safetensors file a registry stores or an
/// external trainer reads.
///
/// Entries are in vector order: entry 0's elements first, row-major. A built-in model defines
/// its layout; an external model's layout is the one of its initial safetensors file, with the
/// tensors in byte order of their names (``init(describing:)``), so every side derives the same
/// order from the same file.
public struct TensorLayout: Sendable, Hashable, Codable {
    /// One tensor: its name and shape (outermost dimension first).
    public struct Entry: Sendable, Hashable, Codable {
        public var name: String
        public var shape: [Int]

        public init(name: String, shape: [Int]) {
            self.name = name
            self.shape = shape
        }

        /// Number of elements, the product of `shape` (1 for a scalar).
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    /// Total number of parameters: the length of the flat vector.
    public let parameterCount: Int

    /// The largest model a layout may describe (the secure sum's vector length bound).
    public static let maximumParameterCount = 1 << 28

    /// A layout with unique, non-empty names, non-negative dimensions and at most
    /// ``maximumParameterCount`` parameters in all.
    public init(_ entries: [Entry]) throws(TallyError) {
        guard !entries.isEmpty else { throw TallyError(.invalidArgument, "a model needs at least one tensor") }
        var names = Set<String>()
        var total = 0
        for entry in entries {
            guard !entry.name.isEmpty, entry.name != SafeTensors.metadataKey else {
                throw TallyError(.invalidArgument, "tensor name \"\(entry.name)\" is not allowed")
            }
            guard names.insert(entry.name).inserted else {
                throw TallyError(.invalidArgument, "tensor \"\(entry.name)\" appears twice")
            }
            var count = 1
            for dimension in entry.shape {
                guard dimension >= 0 else {
                    throw TallyError(.invalidArgument, "tensor \"\(entry.name)\" has a negative dimension in \(entry.shape)")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= Self.maximumParameterCount else {
                    throw TallyError(
                        .invalidArgument, "tensor \"\(entry.name)\" \(entry.shape) is larger than \(Self.maximumParameterCount) elements")
                }
                count = product
            }
            total += count
            guard total <= Self.maximumParameterCount else {
                throw TallyError(.invalidArgument, "the model has more than \(Self.maximumParameterCount) parameters")
            }
        }
        self.entries = entries
        self.parameterCount = total
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do { try self.init(try container.decode([Entry].self)) } catch let error as TallyError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(entries)
    }

    /// The layout of a safetensors file as it stands: every tensor, in byte order of the names.
    /// Only F32 tensors are accepted (the secure sum carries 32-bit floats).
    public init(describing file: SafeTensors) throws(TallyError) {
        var entries: [Entry] = []
        for name in file.sortedNames {
            let tensor = file[name]!
            guard tensor.dtype == .float32 else {
                throw TallyError(.invalidArgument, "tensor \"\(name)\" is \(tensor.dtype.rawValue); a model's tensors must be F32")
            }
            entries.append(Entry(name: name, shape: tensor.shape))
        }
        try self.init(entries)
    }

    /// The tensors of `parameters` (which must have ``parameterCount`` values) as a safetensors file.
    public func safeTensors(_ parameters: [Float], metadata: [String: String] = [:]) throws(TallyError) -> SafeTensors {
        guard parameters.count == parameterCount else {
            throw TallyError(.sizeMismatch, "the layout has \(parameterCount) parameters, got \(parameters.count)")
        }
        var tensors: [String: SafeTensors.Tensor] = [:]
        var offset = 0
        for entry in entries {
            let end = offset + entry.elementCount
            tensors[entry.name] = try SafeTensors.Tensor(shape: entry.shape, values: Array(parameters[offset..<end]))
            offset = end
        }
        return try SafeTensors(tensors: tensors, metadata: metadata)
    }

    /// The flat parameter vector of `file`, which must hold exactly this layout's tensors (same
    /// names, shapes, F32) with finite values. `source` names the file in errors.
    public func parameters(of file: SafeTensors, source: String) throws(TallyError) -> [Float] {
        let expected = Set(entries.map(\.name))
        if let extra = file.sortedNames.first(where: { !expected.contains($0) }) {
            throw TallyError(
                .sizeMismatch, "\(source): unexpected tensor \"\(extra)\" (the model has \(entries.map(\.name).joined(separator: ", ")))")
        }
        var parameters: [Float] = []
        parameters.reserveCapacity(parameterCount)
        for entry in entries {
            guard let tensor = file[entry.name] else {
                throw TallyError(.sizeMismatch, "\(source): tensor \"\(entry.name)\" is missing")
            }
            guard tensor.dtype == .float32 else {
                throw TallyError(.sizeMismatch, "\(source): tensor \"\(entry.name)\" is \(tensor.dtype.rawValue), expected F32")
            }
            guard tensor.shape == entry.shape else {
                throw TallyError(.sizeMismatch, "\(source): tensor \"\(entry.name)\" has shape \(tensor.shape), expected \(entry.shape)")
            }
            let values = try tensor.floatValues()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw TallyError(.invalidArgument, "\(source): tensor \"\(entry.name)\" element \(bad) is \(values[bad]), not finite")
            }
            parameters.append(contentsOf: values)
        }
        return parameters
    }
}
