import Foundation
import TallyCore
import Testing

@testable import TallyModel

/// Test files in a fresh directory.
struct DataFiles {
    let directory: String

    init() throws { directory = try makeTemporaryDirectory() }

    /// Writes `bytes` to `name` and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try writeFile(path, bytes)
        return path
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }
}

let irisSchema = try! DataSchema(featureNames: ["a", "b"], classes: ["setosa", "versicolor", "virginica"])

/// The message a CSV file is refused with, or nil if it loads.
func csvError(_ text: String, schema: DataSchema = irisSchema, maxBytes: Int = 1 << 20) throws -> (path: String, message: String?) {
    let path = try DataFiles().write("data.csv", text)
    do {
        _ = try CSVReader.read(path: path, schema: schema, labelColumn: "label", maxBytes: maxBytes)
        return (path, nil)
    } catch {
        return (path, error.message)
    }
}

@Suite struct CSVSourceTests {
    @Test func columnsMatchByNameInAnyOrder() throws {
        // A byte order mark, CRLF endings, an ignored column, a quoted header and quoted
        // values, a blank line, labels as names and as indices.
        let text =
            "\u{FEFF}id,b,\"label\",a,note\r\n" + "7,0.5,setosa,1.25,\"x, \"\"quoted\"\"\"\r\n" + "\r\n"
            + "8,\"-2e3\",2, 3 ,\"two\nlines\"\r\n" + "9,1e-3,\"versicolor\",+0.1,\r\n"
        let path = try DataFiles().write("data.csv", text)
        let data = try CSVReader.read(path: path, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20)
        #expect(data.count == 3)
        #expect(data.featureCount == 2 && data.classCount == 3)
        #expect(data.features == [1.25, 0.5, 3, -2000, 0.1, 0.001])
        #expect(data.labels == [0, 2, 1])
    }

    @Test func theLabelColumnIsConfigurable() throws {
        let path = try DataFiles().write("data.csv", "species,a,b\nvirginica,1,2\n0,3,4")
        let data = try CSVReader.read(path: path, schema: irisSchema, labelColumn: "species", maxBytes: 1 << 20)
        #expect(data.labels == [2, 0])
        #expect(data.features == [1, 2, 3, 4])
    }

    /// Each malformed file is refused with the file, the line and the column in the message.
    @Test(arguments: [
        ("a,label\n1,0\n", "line 1: no column \"b\" for the feature 1 of the schema"),
        ("a,b,lable\n1,2,0\n", "line 1: no column \"label\" for the label (labelColumn) in the header; did you mean \"lable\"?"),
        ("a,b,a,label\n1,2,3,0\n", "line 1, column 3 (\"a\"): duplicate header; column 1 has that name too"),
        ("a,b,label\n1,2,0\n3,abc,1\n", "line 3, column 2 (\"b\"): \"abc\" is not a number"),
        ("a,b,label\n1,2,0\n3,4e,1\n", "line 3, column 2 (\"b\"): \"4e\" is not a number"),
        ("a,b,label\nNaN,2,0\n", "line 2, column 1 (\"a\"): \"NaN\" is not a finite number"),
        ("a,b,label\n1,-inf,0\n", "line 2, column 2 (\"b\"): \"-inf\" is not a finite number"),
        ("a,b,label\n1,1e39,0\n", "line 2, column 2 (\"b\"): 1e39 is beyond the range of a 32-bit float"),
        ("a,b,label\n1,,0\n", "line 2, column 2 (\"b\"): the value is empty"),
        ("a,b,label\n1,2,0\n1,2,3\n", "line 3, column 3 (\"label\"): label \"3\" is outside the classes: give an index in 0..<3"),
        ("a,b,label\n1,2,setosa\n1,2,virginca\n", "line 3, column 3 (\"label\"): label \"virginca\" is outside the classes"),
        ("a,b,label\n1,2,\n", "line 2, column 3 (\"label\"): the label is empty"),
        ("a,b,label\n1,2,0\n1,2\n", "line 3, column 3 (\"label\"): the row ends after 2 fields; the header has 3"),
        ("a,b,label\n1,2,0,9\n", "line 2, column 4: the row has 4 fields; the header has 3"),
        ("", "line 1, column 1: the file is empty; expected a header row"),
        ("\n\n", "line 1, column 1: the file is empty"),
        ("a,b,label\n", "line 2: the file has a header but no rows"),
        ("a,b,label\n1,\"2,0\n3,4,1\n", "line 2, column 2: the quoted field is not closed"),
        ("a,b,label\n1,2\"3,0\n", "line 2, column 2: a quote inside an unquoted field"),
        ("a,b,label\n1,\"2\"3,0\n", "line 2, column 2: text after the closing quote"),
        ("a,b,label,note\n1,2,0,\"x\ny\"\n5,z,1,n\n", "line 4, column 2 (\"b\"): \"z\" is not a number"),
    ])
    func malformedFilesNameFileLineAndColumn(text: String, expected: String) throws {
        let (path, message) = try csvError(text)
        let found = try #require(message, "accepted: \(text.debugDescription)")
        #expect(found.hasPrefix(path + " "), "\(found)")
        #expect(found.contains(expected), "\(found)")
    }

    @Test func theSizeLimitIsEnforced() throws {
        let text = "a,b,label\n" + String(repeating: "1,2,0\n", count: 100)
        #expect(try csvError(text, maxBytes: text.utf8.count).message == nil)
        let (path, message) = try csvError(text, maxBytes: text.utf8.count - 1)
        #expect(message == "the CSV data file \(path) is \(text.utf8.count) bytes, over the limit of \(text.utf8.count - 1)")
    }

    @Test func onlyRegularFilesAreRead() throws {
        let directory = try DataFiles().directory
        for (path, expected) in [
            (directory, "the CSV data file \(directory) is not a regular file"),
            (directory + "/absent.csv", "cannot open the CSV data file \(directory)/absent.csv: No such file or directory"),
        ] {
            do {
                _ = try CSVReader.read(path: path, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20)
                Issue.record("\(path) was read")
            } catch {
                #expect(error.message == expected)
            }
        }
    }

    @Test func aSchemaWithoutFeatureNamesIsRefused() throws {
        let (path, message) = try csvError("a,b,label\n1,2,0\n", schema: DataSchema(featureCount: 2, classes: ["x", "y"]))
        #expect(message?.hasPrefix("\(path): a CSV source needs a schema with featureNames") == true, "\(message ?? "accepted")")
    }

    /// Records across chunk boundaries, quoted fields longer than a chunk: the same dataset,
    /// and the same line numbers, whatever the chunk size.
    @Test func chunkBoundariesDoNotChangeTheResult() throws {
        var text = "a,note,b,label\n"
        for i in 0..<500 {
            let note = i % 7 == 0 ? "\"a long note, with a comma and\nline break and \"\"quotes\"\" \(i)\"" : "n\(i)"
            text += "\(Double(i) * 0.25),\(note),\(-i),\(i % 3 == 0 ? "virginica" : "\(i % 3)")\r\n"
        }
        let path = try DataFiles().write("data.csv", text)
        let reference = try CSVReader.read(path: path, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20)
        #expect(reference.count == 500)
        #expect(reference.features[2 * 499] == 124.75 && reference.features[2 * 499 + 1] == -499)
        for chunk in [1, 3, 16, 61] {
            let data = try CSVReader.read(path: path, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20, chunkBytes: chunk)
            #expect(data.features == reference.features && data.labels == reference.labels, "chunk \(chunk)")
        }
        // A bad value after many multi-line fields: its physical line is reported.
        let bad = text + "1,x,oops,0\n"
        let lines = bad.utf8.filter { $0 == UInt8(ascii: "\n") }.count
        let badPath = try DataFiles().write("bad.csv", bad)
        for chunk in [5, 1 << 20] {
            #expect(throws: TallyError.self) {
                try CSVReader.read(path: badPath, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20, chunkBytes: chunk)
            }
            do {
                _ = try CSVReader.read(path: badPath, schema: irisSchema, labelColumn: "label", maxBytes: 1 << 20, chunkBytes: chunk)
            } catch {
                #expect(error.message == "\(badPath) line \(lines), column 3 (\"b\"): \"oops\" is not a number")
            }
        }
    }

    /// The fast path and the fallback both round like the standard library's parser.
    @Test func numbersAreCorrectlyRounded() {
        var random = SimulationRandom(seed: 3)
        var texts = [
            "0", "-0", "1", "0.1", "3.4028235e38", "1.17549435e-38", "1e-45", "123456789012345678901234", "0.000001",
            "16777217", "9999999", "1.5E+3", ".5", "5.", "+7", "00012.50", "2.5e-10", "0.1234567890123456789012",
        ]
        for _ in 0..<20_000 {
            let digits = 1 + random.uniform(below: 12)
            var text = random.uniform(below: 2) == 0 ? "-" : ""
            for _ in 0..<digits { text += String(random.uniform(below: 10)) }
            let point = random.uniform(below: digits + 1)
            text.insert(".", at: text.index(text.endIndex, offsetBy: -point))
            if random.uniform(below: 4) == 0 { text += "e\(random.uniform(below: 40) - 20)" }
            texts.append(text)
        }
        for text in texts {
            let bytes = Array(text.utf8)
            let parsed = bytes.withUnsafeBufferPointer { CSVTokenizer.parseNumber($0.baseAddress!, 0, bytes.count) }
            let expected = Float(text)!
            #expect(parsed == .value(expected), "\(text)")
            if case .value(let v) = parsed { #expect(v.bitPattern == expected.bitPattern, "\(text)") }
        }
    }

    /// Throughput on a generated 100,000-row, 20-feature file (printed, not asserted).
    @Test func hundredThousandRows() throws {
        let names = (0..<20).map { "f\($0)" }
        let schema = try DataSchema(featureNames: names, classes: (0..<10).map { "c\($0)" })
        var random = SimulationRandom(seed: 11)
        var text = "id," + names.joined(separator: ",") + ",label\n"
        text.reserveCapacity(100_000 * 180)
        for i in 0..<100_000 {
            text += "\(i)"
            for _ in 0..<20 { text += "," + String(Double(random.uniform(below: 2_000_000) - 1_000_000) / 10_000) }
            text += ",c\(i % 10)\n"
        }
        let path = try DataFiles().write("big.csv", text)
        let start = ContinuousClock.now
        let data = try CSVReader.read(path: path, schema: schema, labelColumn: "label", maxBytes: 1 << 30)
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        #expect(data.count == 100_000 && data.featureCount == 20)
        #expect(data.labels[12_345] == 5)
        print("CSV: 100000 rows × 20 features, \(text.utf8.count) bytes in \(seconds) s: \(Int(100_000 / seconds)) rows/s")
    }
}

// MARK: NumPy

/// An `.npy` file: the header dict padded to 64 bytes, then `data`.
func npy(descr: String, shape: [Int], data: [UInt8], fortran: Bool = false, version: UInt8 = 1) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = Array("{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }".utf8)
    let prefix = version == 1 ? 10 : 12
    while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
    header.append(0x0A)
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    if version == 1 {
        out += [UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
    } else {
        out += [UInt8(header.count & 0xFF), UInt8(header.count >> 8), 0, 0]
    }
    return out + header + data
}

/// Little-endian bytes of each value.
func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// 0…11 in each dtype: three examples of shape 2×2.
let npyDtypeCases: [(String, [UInt8])] = [
    ("<f4", littleEndian((0..<12).map { Float($0).bitPattern })),
    ("<f8", littleEndian((0..<12).map { Double($0).bitPattern })),
    ("|u1", (0..<12).map { UInt8($0) }),
    ("|i1", (0..<12).map { UInt8($0) }),
    ("<i2", littleEndian((0..<12).map { Int16($0) })),
    ("<i4", littleEndian((0..<12).map { Int32($0) })),
    ("<i8", littleEndian((0..<12).map { Int64($0) })),
    ("<u2", littleEndian((0..<12).map { UInt16($0) })),
    ("<u4", littleEndian((0..<12).map { UInt32($0) })),
]

let fourFeatures = try! DataSchema(featureCount: 4, classes: ["no", "yes", "maybe"])

@Suite struct NPYSourceTests {
    func load(features: [UInt8], labels: [UInt8], schema: DataSchema = fourFeatures) throws -> Dataset {
        let files = try DataFiles()
        var source = DataSourceConfiguration(kind: .npy)
        source.featuresPath = try files.write("x.npy", features)
        source.labelsPath = try files.write("y.npy", labels)
        return try source.load(schema: schema).training
    }

    func error(features: [UInt8], labels: [UInt8], schema: DataSchema = fourFeatures) -> String? {
        do { _ = try load(features: features, labels: labels, schema: schema); return nil } catch let error as TallyError {
            return error.message
        } catch { return "\(error)" }
    }

    static let labels = npy(descr: "<i8", shape: [3], data: littleEndian([Int64(2), 0, 1]))

    @Test(arguments: npyDtypeCases)
    func everyDtypeLoads(descr: String, data: [UInt8]) throws {
        let dataset = try load(features: npy(descr: descr, shape: [3, 2, 2], data: data), labels: Self.labels)
        #expect(dataset.features == (0..<12).map(Float.init))
        #expect(dataset.labels == [2, 0, 1])
        // The same features as labels of another type.
        let labels = try load(
            features: npy(descr: "<f4", shape: [3, 4], data: littleEndian((0..<12).map { Float($0).bitPattern })),
            labels: npy(descr: descr, shape: [3], data: Array(data.prefix(3 * (data.count / 12)))))
        #expect(labels.labels == [0, 1, 2])
    }

    @Test func negativeAndFractionalValuesConvert() throws {
        let signed = try load(
            features: npy(descr: "<i2", shape: [1, 4], data: littleEndian([Int16(-300), 7, -1, 0])),
            labels: npy(descr: "|u1", shape: [1], data: [1]))
        #expect(signed.features == [-300, 7, -1, 0])
        let fractional = try load(
            features: npy(descr: "<f8", shape: [1, 4], data: littleEndian([0.1, -2.5, 1e-3, 3].map(\.bitPattern))),
            labels: npy(descr: "|u1", shape: [1], data: [1]))
        #expect(fractional.features == [0.1, -2.5, 1e-3, 3])
    }

    @Test(arguments: [UInt8(1), 2, 3])
    func everyFormatVersionLoads(version: UInt8) throws {
        let dataset = try load(
            features: npy(descr: "|u1", shape: [3, 4], data: (0..<12).map { UInt8($0) }, version: version), labels: Self.labels)
        #expect(dataset.count == 3)
    }

    @Test func fortranOrderIsRefused() {
        let message = error(features: npy(descr: "<f4", shape: [3, 4], data: npyDtypeCases[0].1, fortran: true), labels: Self.labels)
        #expect(
            message?.hasSuffix("x.npy: header 'fortran_order' is True: only C order is supported (save numpy.ascontiguousarray(array))")
                == true, "\(message ?? "accepted")")
    }

    @Test func malformedArraysAreRefusedWithTheFileAndPlace() {
        let f4 = npyDtypeCases[0].1
        let cases: [(String?, String)] = [
            (
                error(features: npy(descr: ">f4", shape: [3, 4], data: f4), labels: Self.labels),
                "x.npy: header 'descr' '>f4' is not supported (big-endian"
            ),
            (
                error(features: npy(descr: "<f2", shape: [3, 4], data: f4), labels: Self.labels),
                "x.npy: header 'descr' '<f2' is not supported"
            ),
            (
                error(features: npy(descr: "<f4", shape: [3, 3], data: f4), labels: Self.labels),
                "x.npy: shape [3, 3] of <f4 needs 9 × 4 data bytes, found 48"
            ),
            (
                error(features: npy(descr: "<f4", shape: [4, 3], data: f4), labels: Self.labels),
                "x.npy: features have shape [4, 3], 3 per example; the schema has 4"
            ),
            (
                error(features: npy(descr: "<f4", shape: [2, 4], data: Array(f4.prefix(32))), labels: Self.labels),
                "y.npy: labels have shape [3]; expected [2]"
            ),
            (error(features: Array("not numpy".utf8), labels: Self.labels), "x.npy: not a NumPy .npy file"),
            (
                error(
                    features: npy(
                        descr: "<f4", shape: [3, 4], data: littleEndian((0..<12).map { ($0 == 6 ? Float.nan : Float($0)).bitPattern })),
                    labels: Self.labels), "x.npy: example 1, feature 2: nan is not a finite number"
            ),
            (
                error(
                    features: npy(
                        descr: "<f8", shape: [3, 4], data: littleEndian((0..<12).map { Double($0 == 11 ? 1e300 : 0).bitPattern })),
                    labels: Self.labels),
                "x.npy: example 2, feature 3: 1e+300 is beyond the range of Float"
            ),
            (
                error(
                    features: npy(descr: "|u1", shape: [3, 4], data: Array(repeating: 0, count: 12)),
                    labels: npy(descr: "<i8", shape: [3], data: littleEndian([Int64(0), 3, 1]))),
                "y.npy: example 1: label 3 is outside the classes 0..<3"
            ),
            (
                error(
                    features: npy(descr: "|u1", shape: [3, 4], data: Array(repeating: 0, count: 12)),
                    labels: npy(descr: "<i4", shape: [3], data: littleEndian([Int32(0), -1, 1]))),
                "y.npy: example 1: label -1 is outside the classes 0..<3"
            ),
            (
                error(
                    features: npy(descr: "|u1", shape: [3, 4], data: Array(repeating: 0, count: 12)),
                    labels: npy(descr: "<f4", shape: [3], data: littleEndian([Float(0), 0.5, 1].map(\.bitPattern)))),
                "y.npy: example 1: label 0.5 is not an integer"
            ),
        ]
        for (message, expected) in cases {
            #expect(message?.contains(expected) == true, "\(message ?? "accepted") — expected \(expected)")
        }
    }

    @Test func theSizeLimitIsEnforced() throws {
        let files = try DataFiles()
        var source = DataSourceConfiguration(kind: .npy)
        source.featuresPath = try files.write("x.npy", npy(descr: "|u1", shape: [3, 4], data: Array(repeating: 0, count: 12)))
        source.labelsPath = try files.write("y.npy", Self.labels)
        source.maxBytes = 100
        #expect(throws: TallyError.self) { try source.load(schema: fourFeatures) }
        source.maxBytes = 1000
        #expect(try source.load(schema: fourFeatures).training.count == 3)
    }
}

// MARK: safetensors and IDX

@Suite struct TensorSourceTests {
    @Test func safetensorsFeaturesAndIntegerLabels() throws {
        let features = try SafeTensors.Tensor(shape: [3, 2, 2], values: (0..<12).map(Float.init))
        let labels = try SafeTensors.Tensor(dtype: .int64, shape: [3], bytes: littleEndian([Int64(1), 2, 0]))
        let file = try SafeTensors(tensors: ["x": features, "y": labels]).serialized()
        let path = try DataFiles().write("data.safetensors", file)
        var source = DataSourceConfiguration(kind: .safetensors)
        source.path = path
        source.featuresTensor = "x"
        source.labelsTensor = "y"
        let data = try source.load(schema: fourFeatures).training
        #expect(data.features == (0..<12).map(Float.init) && data.labels == [1, 2, 0])
        // The integer dtypes round-trip through the reader too.
        #expect(try SafeTensors(serialized: file)["y"] == labels)

        source.labelsTensor = nil // the default name, "labels", is not in this file
        do {
            _ = try source.load(schema: fourFeatures)
            Issue.record("a missing tensor was accepted")
        } catch {
            #expect(error.message == "\(path): no tensor \"labels\" (labelsTensor); the file has \"x\", \"y\"")
        }
    }

    @Test func idxImagesAreScaledLikeFashionMNIST() throws {
        let files = try DataFiles()
        let images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2] + [0, 255, 51, 102, 1, 2, 3, 4]
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 2, 1]
        var source = DataSourceConfiguration(kind: .idx)
        source.imagesPath = try files.write("images.idx", images)
        source.labelsPath = try files.write("labels.idx", labels)
        let data = try source.load(schema: fourFeatures).training
        #expect(data.features == [0, 1, 0.2, 0.4, Float(1) / 255, Float(2) / 255, Float(3) / 255, Float(4) / 255])
        #expect(data.labels == [2, 1])
        do {
            _ = try source.load(schema: DataSchema(featureCount: 5, classes: ["a", "b", "c"]))
            Issue.record("a wrong feature count was accepted")
        } catch {
            #expect(
                error.message.contains("images.idx: features have shape [2, 2, 2], 4 per example; the schema has 5"), "\(error.message)")
        }
    }
}

// MARK: The held-out part

@Suite struct HeldOutTests {
    /// Example i has feature i, so a part's examples can be recognised.
    func numbered(_ count: Int) throws -> Dataset {
        try Dataset(features: (0..<count).map(Float.init), labels: (0..<count).map { UInt8($0 % 3) }, featureCount: 1, classCount: 3)
    }

    @Test func disjointCompleteAndDeterministic() throws {
        let data = try numbered(1_000)
        let local = try LocalDataset(splitting: data, heldOutFraction: 0.1, seed: 42)
        #expect(local.heldOut.count == 100 && local.training.count == 900)
        let held = Set(local.heldOut.features), trained = Set(local.training.features)
        #expect(held.isDisjoint(with: trained))
        #expect(held.union(trained) == Set(data.features))
        // Labels travel with their examples.
        for (i, value) in local.heldOut.features.enumerated() { #expect(local.heldOut.labels[i] == UInt8(Int(value) % 3)) }
        // The same seed, the same parts; another seed, other parts.
        let again = try LocalDataset(splitting: data, heldOutFraction: 0.1, seed: 42)
        #expect(again.heldOut.features == local.heldOut.features && again.training.features == local.training.features)
        #expect(try LocalDataset(splitting: data, heldOutFraction: 0.1, seed: 43).heldOut.features != local.heldOut.features)
        // In file order, and not just the first or last examples.
        #expect(local.heldOut.features == local.heldOut.features.sorted())
        #expect(local.heldOut.features.first! < 100 && local.heldOut.features.last! > 900)
    }

    @Test func boundaries() throws {
        let data = try numbered(10)
        #expect(try LocalDataset(splitting: data, heldOutFraction: 0, seed: 1).heldOut.count == 0)
        #expect(try LocalDataset(splitting: data, heldOutFraction: 0, seed: 1).training.count == 10)
        #expect(
            try LocalDataset(splitting: data, heldOutFraction: 0.01, seed: 1).heldOut.count == 1,
            "a positive fraction holds out at least one")
        for bad in [-0.1, 1, .nan] {
            #expect(throws: TallyError.self) { try LocalDataset(splitting: data, heldOutFraction: bad, seed: 1) }
        }
        #expect(throws: TallyError.self) { try LocalDataset(splitting: numbered(1), heldOutFraction: 0.5, seed: 1) }
    }

    @Test func aCSVSourceSplitsToo() throws {
        let text = "a,b,label\n" + (0..<50).map { "\($0),0,\($0 % 3)" }.joined(separator: "\n")
        var source = DataSourceConfiguration.csv(path: try DataFiles().write("data.csv", text))
        source.heldOutFraction = 0.2
        source.heldOutSeed = 9
        let local = try source.load(schema: irisSchema)
        #expect(local.heldOut.count == 10 && local.training.count == 40)
        #expect(
            Set(local.heldOut.features.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
                .isDisjoint(with: Set(local.training.features.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))))
    }
}

// MARK: Configuration

@Suite struct DataSourceConfigurationTests {
    func decode(_ text: String) -> Result<DataSourceConfiguration, TallyError> {
        Result { () throws(TallyError) in
            try StrictJSON.decode(
                DataSourceConfiguration.self, from: Array(text.utf8), defaults: DataSourceConfiguration(), file: "source.json")
        }
    }

    func message(_ text: String) -> String? {
        if case .failure(let error) = decode(text) { return error.message }
        return nil
    }

    @Test func eachKindDecodes() throws {
        let csv = try decode("{\"kind\": \"csv\", \"path\": \"d.csv\", \"labelColumn\": \"y\", \"heldOutFraction\": 0.1}").get()
        #expect(csv.kind == .csv && csv.path == "d.csv" && csv.labelColumn == "y" && csv.heldOutFraction == 0.1)
        let npy = try decode("{\"kind\": \"npy\", \"featuresPath\": \"x.npy\", \"labelsPath\": \"y.npy\"}").get()
        #expect(npy.featuresPath == "x.npy" && npy.maxBytes == nil)
        let partition = try decode("{\"kind\": \"fashion-mnist-partition\", \"index\": 3, \"organizations\": 4}").get()
        #expect(partition.kind == .fashionMNISTPartition && partition.index == 3)
        #expect(try decode("{\"kind\": \"safetensors\", \"path\": \"d.safetensors\"}").get().featuresTensor == nil)
        #expect(try decode("{\"kind\": \"idx\", \"imagesPath\": \"i\", \"labelsPath\": \"l\"}").get().imagesPath == "i")
    }

    @Test func strictDecodingNamesTheKeyAndLine() {
        #expect(message("{\"kind\": \"csv\",\n\"pth\": \"d.csv\"}") == "source.json line 2: unknown key \"pth\"; did you mean \"path\"?")
        #expect(
            message("{\"kind\": \"csvv\", \"path\": \"d.csv\"}")
                == "source.json line 1: invalid value for \"kind\": kind \"csvv\" is not one of csv, npy, safetensors, idx, fashion-mnist-partition; did you mean \"csv\"?"
        )
        #expect(
            message("{\"kind\": \"npy\", \"featuresPath\": \"x\", \"labelsPath\": \"y\",\n\"labelColumn\": \"z\"}")
                == "source.json line 2: invalid value for \"labelColumn\": \"labelColumn\" does not apply to a npy source (its keys: featuresPath, labelsPath, maxBytes)"
        )
        #expect(message("{\"kind\": \"npy\", \"featuresPath\": \"x\"}")?.contains("a npy source needs \"labelsPath\"") == true)
        #expect(
            message("{\"kind\": \"csv\", \"path\": \"d\", \"heldOutFraction\": 1}")?.contains("heldOutFraction must be in [0, 1)") == true)
        #expect(message("{\"kind\": \"csv\", \"path\": \"d\", \"maxBytes\": 0}")?.contains("maxBytes must be positive") == true)
    }

    @Test func schemasDecodeStrictly() throws {
        func schema(_ text: String) -> Result<DataSchema, any Error> {
            Result { try JSONDecoder().decode(DataSchema.self, from: Data(text.utf8)) }
        }
        let tabular = try schema("{\"featureNames\": [\"a\", \"b\"], \"classes\": [\"x\", \"y\"]}").get()
        let expected = try DataSchema(featureNames: ["a", "b"], classes: ["x", "y"])
        #expect(tabular.featureCount == 2 && tabular == expected)
        #expect(tabular.classIndex(of: "y") == 1 && tabular.classIndex(of: "0") == 0)
        #expect(tabular.classIndex(of: "2") == nil && tabular.classIndex(of: "z") == nil)
        #expect(try schema("{\"featureCount\": 784, \"classes\": [\"0\", \"1\"]}").get().featureNames == nil)
        for bad in [
            "{\"featureNames\": [\"a\", \"a\"], \"classes\": [\"x\"]}",
            "{\"featureCount\": 3, \"featureNames\": [\"a\"], \"classes\": [\"x\"]}",
            "{\"featureCount\": 3, \"classes\": [\"1\", \"0\"]}", "{\"featureCount\": 3, \"classes\": []}", "{\"classes\": [\"x\"]}",
            "{\"featureCount\": 3}", "{\"featureCount\": 3, \"classes\": [\"x\"], \"clases\": []}",
            "{\"featureCount\": 0, \"classes\": [\"x\"]}",
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try schema(bad).get() }
        }
        #expect(throws: TallyError.self) { try DataSchema(featureCount: 2, classes: (0...256).map { "c\($0)" }) }
    }
}
