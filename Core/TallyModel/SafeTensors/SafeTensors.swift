public import TallyCore

/// A set of named tensors in Hugging Face's safetensors format
/// (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of JSON header, then the raw little-endian tensor data.
///
/// Models are published to a content-addressed registry, so ``serialized()`` is deterministic:
/// tensors and metadata in UTF-8 byte order of their names, a fixed key order, no optional
/// whitespace except the trailing spaces that pad the header to 8 bytes (allowed by the format,
/// and done by the reference writer so the data stays aligned). Equal models hash equal.
///
/// The reader treats the file as hostile: the header length is checked against a cap and
/// the input size before anything is allocated, JSON with duplicate keys is refused, every
/// tensor's byte range must match its shape, and the ranges must tile the data exactly — no
/// overlaps, no holes, no trailing bytes (the reference implementation's rules too).
public struct SafeTensors: Sendable, Hashable {
    /// The reserved header key for free-form string metadata.
    public static let metadataKey = "__metadata__"
    /// Bytes of the little-endian header-length prefix.
    static let prefixBytes = 8

    public let tensors: [String: Tensor]
    public let metadata: [String: String]

    /// A model file from named tensors and string metadata.
    public init(tensors: [String: Tensor], metadata: [String: String] = [:]) throws(TallyError) {
        guard tensors[Self.metadataKey] == nil else {
            throw TallyError(.invalidArgument, "\"\(Self.metadataKey)\" is reserved and cannot name a tensor")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { tensors[name] }

    /// Tensor names in the order the writer uses: byte order of their UTF-8.
    public var sortedNames: [String] { Self.byteOrdered(Array(tensors.keys)) }

    // MARK: Writing

    /// The file's bytes; identical content gives identical bytes.
    public func serialized() -> [UInt8] {
        let names = sortedNames
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            SafeTensorsJSON.appendQuoted(Self.metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            for (i, key) in Self.byteOrdered(Array(metadata.keys)).enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                SafeTensorsJSON.appendQuoted(key, to: &header)
                header.append(UInt8(ascii: ":"))
                SafeTensorsJSON.appendQuoted(metadata[key]!, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            separator()
            SafeTensorsJSON.appendQuoted(name, to: &header)
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            let entry =
                ":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}"
            header.append(contentsOf: Array(entry.utf8))
            offset += tensor.bytes.count
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var out: [UInt8] = []
        out.reserveCapacity(Self.prefixBytes + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in names { out.append(contentsOf: tensors[name]!.bytes) }
        return out
    }

    /// SHA-256 of ``serialized()``: the registry's content address for this model.
    public func contentHash() -> [UInt8] { SHA256Digest.hash(serialized()) }

    // MARK: Reading

    /// Reads and validates a safetensors file.
    public init(contentsOfFile path: String, limits: Limits = .default) throws(TallyError) {
        try self.init(serialized: BoundedFile.read(path, maxBytes: limits.maxFileBytes, what: "safetensors"), limits: limits)
    }

    /// Parses and validates the bytes of a safetensors file.
    public init(serialized bytes: [UInt8], limits: Limits = .default) throws(TallyError) {
        guard bytes.count <= limits.maxFileBytes else {
            throw TallyError(.sizeLimitExceeded, "safetensors input is \(bytes.count) bytes, over the limit of \(limits.maxFileBytes)")
        }
        guard bytes.count >= Self.prefixBytes else {
            throw TallyError(.malformedSafeTensors, "safetensors input is \(bytes.count) bytes, shorter than its 8-byte header length")
        }
        let declared = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(limits.maxHeaderBytes) else {
            throw TallyError(
                .sizeLimitExceeded, "safetensors header declares \(declared) bytes, over the limit of \(limits.maxHeaderBytes)")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - Self.prefixBytes else {
            throw TallyError(
                .malformedSafeTensors, "safetensors header declares \(headerLength) bytes but only \(bytes.count - Self.prefixBytes) follow"
            )
        }
        let dataStart = Self.prefixBytes + headerLength
        let dataCount = bytes.count - dataStart
        let json = try SafeTensorsJSON.parseObject(Array(bytes[Self.prefixBytes..<dataStart]))
        guard case .object(let members) = json else {
            throw TallyError(.malformedSafeTensors, "the header must be a JSON object")
        }

        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in members {
            if key == Self.metadataKey {
                metadata = try Self.parseMetadata(value)
            } else {
                let (dtype, shape, begin, end) = try Self.parseEntry(name: key, value)
                guard end <= dataCount else {
                    throw TallyError(.malformedSafeTensors, "tensor \"\(key)\" ends at byte \(end) of a \(dataCount)-byte data section")
                }
                entries.append((key, dtype, shape, begin, end))
            }
        }

        // The byte ranges must tile [0, dataCount): sorted by start, each begins where the last ended.
        let ordered = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for entry in ordered {
            guard entry.begin >= cursor else {
                throw TallyError(.malformedSafeTensors, "tensor \"\(entry.name)\" [\(entry.begin), \(entry.end)) overlaps another tensor")
            }
            guard entry.begin == cursor else {
                throw TallyError(.malformedSafeTensors, "data bytes [\(cursor), \(entry.begin)) belong to no tensor")
            }
            cursor = entry.end
        }
        guard cursor == dataCount else {
            throw TallyError(.malformedSafeTensors, "data bytes [\(cursor), \(dataCount)) belong to no tensor")
        }

        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            let slice = Array(bytes[(dataStart + entry.begin)..<(dataStart + entry.end)])
            // The parser already rejected duplicate keys; canonically equivalent spellings of
            // one name would still collide here, and are refused for the same reason.
            guard tensors.updateValue(try Tensor(dtype: entry.dtype, shape: entry.shape, bytes: slice), forKey: entry.name) == nil else {
                throw TallyError(.malformedSafeTensors, "duplicate tensor name \"\(entry.name)\"")
            }
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func parseMetadata(_ value: SafeTensorsJSON) throws(TallyError) -> [String: String] {
        guard case .object(let members) = value else {
            throw TallyError(.malformedSafeTensors, "\"\(metadataKey)\" must be an object of strings, found \(value.kind)")
        }
        var metadata: [String: String] = [:]
        for (key, item) in members {
            guard case .string(let text) = item else {
                throw TallyError(.malformedSafeTensors, "metadata \"\(key)\" must be a string, found \(item.kind)")
            }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw TallyError(.malformedSafeTensors, "duplicate metadata key \"\(key)\"")
            }
        }
        return metadata
    }

    private static func parseEntry(name: String, _ value: SafeTensorsJSON) throws(TallyError) -> (DType, [Int], Int, Int) {
        func bad(_ what: String) -> TallyError { TallyError(.malformedSafeTensors, "tensor \"\(name)\": \(what)") }
        guard case .object(let fields) = value else { throw bad("entry must be an object, found \(value.kind)") }
        var dtype: DType?
        var shape: [Int]?
        var offsets: [Int]?
        for (key, field) in fields {
            switch key {
            case "dtype":
                guard case .string(let text) = field else { throw bad("dtype must be a string") }
                guard let parsed = DType(rawValue: text) else {
                    throw bad("unsupported dtype \"\(text)\" (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                dtype = parsed
            case "shape":
                shape = try nonNegativeIntegers(field, or: bad("shape must be an array of non-negative integers"))
            case "data_offsets":
                offsets = try nonNegativeIntegers(field, or: bad("data_offsets must be an array of non-negative integers"))
            default:
                throw bad("unknown field \"\(key)\"")
            }
        }
        guard let dtype else { throw bad("missing dtype") }
        guard let shape else { throw bad("missing shape") }
        guard let offsets else { throw bad("missing data_offsets") }
        guard offsets.count == 2, offsets[0] <= offsets[1] else { throw bad("data_offsets must be [begin, end] with begin ≤ end") }
        let expected: Int
        do {
            expected = try Tensor.byteCount(dtype: dtype, shape: shape)
        } catch {
            throw bad(error.message)
        }
        guard offsets[1] - offsets[0] == expected else {
            throw bad("shape \(shape) of \(dtype.rawValue) needs \(expected) bytes but data_offsets span \(offsets[1] - offsets[0])")
        }
        return (dtype, shape, offsets[0], offsets[1])
    }

    private static func nonNegativeIntegers(_ value: SafeTensorsJSON, or error: TallyError) throws(TallyError) -> [Int] {
        guard case .array(let items) = value else { throw error }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .integer(let n) = item, n >= 0 else { throw error }
            out.append(n)
        }
        return out
    }

    static func byteOrdered(_ strings: [String]) -> [String] {
        strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
