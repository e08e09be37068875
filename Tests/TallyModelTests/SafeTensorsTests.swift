import TallyCore
import Testing

@testable import TallyModel

@Suite struct ModelSafeTensorsTests {
    /// A file assembled by hand: little-endian length prefix, header text, data.
    private func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { out.append(contentsOf: $0) }
        return out + headerBytes + data
    }

    private func expectRejected(
        _ bytes: [UInt8], _ code: TallyError.Code = .malformedSafeTensors,
        limits: SafeTensors.Limits = .default, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(throws: TallyError.self, sourceLocation: sourceLocation) {
            _ = try SafeTensors(serialized: bytes, limits: limits)
        }
        do {
            _ = try SafeTensors(serialized: bytes, limits: limits)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
    }

    private func sample(seed: UInt64) throws -> SafeTensors {
        let random = SeededRandom(testSeed: seed)
        let floats = (0..<24).map { _ in Float(Int64(bitPattern: random.nextWord()) % 1_000_000) / 997 }
        let doubles = (0..<5).map { _ in Double(Int64(bitPattern: random.nextWord())) / 3 }
        return try SafeTensors(
            tensors: [
                "weight": .init(shape: [2, 3, 4], values: floats),
                "bias": .init(shape: [5], values: doubles),
                "scalar": .init(shape: [], values: [Float(-0.0)]),
                "empty": .init(shape: [0, 7], values: [Float]()),
                "naïve \"quoted\"\n名前": .init(shape: [2], values: [Float.nan, .infinity]),
            ], metadata: ["format": "pt", "note": "tab\there, quote\" backslash\\ 🚀", "\u{1}": ""])
    }

    @Test func roundTripIsExactAndReserializesIdentically() throws {
        let original = try sample(seed: 1)
        let bytes = original.serialized()
        let parsed = try SafeTensors(serialized: bytes)
        #expect(parsed == original)
        #expect(parsed.serialized() == bytes)
        #expect(try parsed["weight"]?.floatValues() == original["weight"]?.floatValues())
        #expect(try parsed["bias"]?.doubleValues() == original["bias"]?.doubleValues())
        #expect(parsed.metadata == original.metadata)
        // NaN payloads survive because the bytes, not decoded floats, are kept.
        #expect(parsed["naïve \"quoted\"\n名前"]?.bytes == original["naïve \"quoted\"\n名前"]?.bytes)
    }

    @Test func serializationIsByteDeterministicAndContentAddressed() throws {
        let a = try sample(seed: 7)
        // The same content built with the dictionaries filled in the opposite order.
        var tensors: [String: SafeTensors.Tensor] = [:]
        for name in a.sortedNames.reversed() { tensors[name] = a[name] }
        var metadata: [String: String] = [:]
        for key in a.metadata.keys.sorted().reversed() { metadata[key] = a.metadata[key] }
        let b = try SafeTensors(tensors: tensors, metadata: metadata)
        #expect(a.serialized() == b.serialized())
        #expect(a.contentHash() == b.contentHash())
        #expect(a.contentHash() == SHA256Digest.hash(a.serialized()))
        // One changed value changes the address.
        var weights = try #require(a["weight"]).bytes
        weights[0] ^= 1
        tensors["weight"] = try .init(dtype: .float32, shape: [2, 3, 4], bytes: weights)
        #expect(try SafeTensors(tensors: tensors, metadata: metadata).contentHash() != a.contentHash())

        // Header is padded to a multiple of 8 and the layout is the canonical one.
        let bytes = a.serialized()
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        #expect(headerLength % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))
    }

    @Test func writesTheReferenceLayout() throws {
        let file = try SafeTensors(
            tensors: [
                "b": .init(shape: [1], values: [Float(2)]),
                "a": .init(shape: [2], values: [Float(1), Float(-1)]),
            ], metadata: ["format": "pt"])
        let bytes = file.serialized()
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let expected =
            #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        #expect(header.hasPrefix(expected))
        #expect(header.dropFirst(expected.count).allSatisfy { $0 == " " })
        // Data: a = [1, -1], then b = [2], little-endian F32.
        let data = Array(bytes[(8 + headerLength)...])
        let floats = stride(from: 0, to: data.count, by: 4).map { i in
            Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24)
        }
        #expect(floats == [1, -1, 2])
    }

    /// A header as another writer might produce it: whitespace, other key orders, metadata last.
    @Test func readsForeignButValidHeaders() throws {
        let data: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 240, 63] // F32 1, 2; F64 1
        let header = """
            { "y" : {"data_offsets":[8, 16], "shape": [1], "dtype": "F64"},
              "x": {"shape":[2],"dtype":"F32","data_offsets":[0,8]}, "__metadata__": {"k\\u00e9\\ud83d\\ude80": "v\\n"} }
            """
        let parsed = try SafeTensors(serialized: file(header: header, data: data))
        #expect(try parsed["x"]?.floatValues() == [1, 2])
        #expect(try parsed["y"]?.doubleValues() == [1])
        #expect(parsed.metadata == ["ké🚀": "v\n"])
    }

    @Test func rejectsTruncatedInput() throws {
        let bytes = try sample(seed: 3).serialized()
        expectRejected([])
        expectRejected(Array(bytes[..<7]))
        expectRejected(Array(bytes[..<40])) // header cut short
        expectRejected(Array(bytes.dropLast())) // data one byte short
        expectRejected(bytes + [0]) // a trailing byte that belongs to no tensor
    }

    @Test func rejectsOversizedHeadersBeforeAllocating() throws {
        // Declares 200 MB of header in a 20-byte input: refused by the cap, not by running out.
        expectRejected(file(header: "{}", data: [], declaredLength: 200_000_000), .sizeLimitExceeded)
        expectRejected(file(header: "{}", data: [], declaredLength: UInt64.max), .sizeLimitExceeded)
        // Within the cap but longer than the input.
        expectRejected(file(header: "{}", data: [], declaredLength: 1000))
        // A valid file over a caller's tighter limits.
        let bytes = try sample(seed: 4).serialized()
        expectRejected(bytes, .sizeLimitExceeded, limits: .init(maxHeaderBytes: 64))
        expectRejected(bytes, .sizeLimitExceeded, limits: .init(maxFileBytes: bytes.count - 1))
        #expect(try SafeTensors(serialized: bytes, limits: .init(maxFileBytes: bytes.count)) == sample(seed: 4))
    }

    @Test func rejectsOverlappingOrMisplacedOffsets() {
        let data = [UInt8](repeating: 0, count: 16)
        let entry = { (name: String, begin: Int, end: Int, count: Int) in
            "\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(count)],\"data_offsets\":[\(begin),\(end)]}"
        }
        // Sanity: the same construction with proper offsets is accepted.
        #expect(throws: Never.self) {
            try SafeTensors(serialized: self.file(header: "{\(entry("a", 0, 8, 2)),\(entry("b", 8, 16, 2))}", data: data))
        }
        expectRejected(file(header: "{\(entry("a", 0, 8, 2)),\(entry("b", 4, 12, 2))}", data: Array(data[..<12]))) // overlap
        expectRejected(file(header: "{\(entry("a", 0, 8, 2)),\(entry("b", 0, 8, 2))}", data: Array(data[..<8]))) // same bytes twice
        expectRejected(file(header: "{\(entry("a", 0, 4, 1)),\(entry("b", 8, 16, 2))}", data: data)) // hole
        expectRejected(file(header: "{\(entry("a", 8, 24, 4))}", data: Array(data[..<8]) + data)) // leading hole
        expectRejected(file(header: "{\(entry("a", 0, 24, 6))}", data: data)) // past the end
        expectRejected(file(header: "{\(entry("a", 0, 16, 3))}", data: data)) // shape ≠ byte range
        expectRejected(file(header: "{\(entry("a", 8, 0, 0))}", data: [])) // begin > end
    }

    @Test func rejectsMalformedHeaders() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let data: [UInt8] = [0, 0, 0, 0]
        #expect(try SafeTensors(serialized: file(header: ok, data: data))["a"] != nil)
        let bad = [
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, // duplicate name
            #"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, // duplicate field
            #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, // unsupported dtype
            #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, // negative dimension
            #"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, // non-integer
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, // three offsets
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, // unknown field
            #"{"a":{"dtype":"F32","shape":[1]}}"#, // missing offsets
            #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, // element count overflow
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, // integer overflow
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"k":1}}"#, // non-string metadata
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, // unterminated
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x"#, // trailing garbage
            #"[{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}]"#, // not an object
            #"{"a\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, // lone surrogate
            #"{"__metadata__":{"k":"\x"}}"#, // invalid escape
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100), // too deep
        ]
        for header in bad {
            expectRejected(file(header: header, data: data))
        }
        // Invalid UTF-8 inside a string.
        var invalid = file(header: ok, data: data)
        invalid[10] = 0xFF // the tensor name "a"
        expectRejected(invalid)
        // Reserved name as a tensor.
        #expect(throws: TallyError.self) {
            try SafeTensors(tensors: [SafeTensors.metadataKey: .init(shape: [1], values: [Float(0)])])
        }
        // Tensor bytes that do not match the shape.
        #expect(throws: TallyError.self) { try SafeTensors.Tensor(dtype: .float64, shape: [2], bytes: [0, 0, 0, 0]) }
    }

    /// Random corruption of a valid file must give an error or a valid file, never a crash; and
    /// flipping bytes inside the header's JSON syntax must be caught.
    @Test func survivesRandomCorruption() throws {
        let bytes = try sample(seed: 5).serialized()
        let random = SeededRandom(testSeed: 99)
        var rejected = 0
        for _ in 0..<500 {
            var corrupted = bytes
            let position = Int(random.nextWord() % UInt64(min(corrupted.count, 200)))
            corrupted[position] = UInt8(truncatingIfNeeded: random.nextWord())
            if corrupted == bytes { continue }
            do {
                let parsed = try SafeTensors(serialized: corrupted)
                // Accepted: then it must be self-consistent.
                #expect(try SafeTensors(serialized: parsed.serialized()) == parsed)
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 250)
    }

    @Test func readsFiles() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeFile(directory) }
        let path = directory + "/model.safetensors"
        let original = try sample(seed: 6)
        let bytes = original.serialized()
        try writeFile(path, bytes)
        #expect(try SafeTensors(contentsOfFile: path) == original)
        #expect(throws: TallyError.self) { try SafeTensors(contentsOfFile: path + ".missing") }
        #expect(throws: TallyError.self) { try SafeTensors(contentsOfFile: path, limits: .init(maxFileBytes: bytes.count - 1)) }
    }
}
