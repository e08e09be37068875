import TallyCore
import TallyModel

extension Harness {
    /// safetensors: `SafeTensors(serialized:)`, then the model it holds (`ModelState(safeTensors:)`,
    /// its spec, layout, feature transform and standardization metadata), re-encoded; a file
    /// with `features` and `labels` tensors also through a safetensors data source.
    public static let safeTensors = Harness(name: "fuzz-safetensors", run: DataFuzz.safeTensors, seeds: DataFuzz.safeTensorsSeeds)
    /// IDX: `IDXReader.parse`, and an images + labels pair through a data source (`load(schema:)`).
    public static let idx = Harness(name: "fuzz-idx", run: DataFuzz.idx, seeds: DataFuzz.idxSeeds)
    /// CSV: `CSVReader.read` against a schema with feature names (the file written to a scratch path).
    public static let csv = Harness(name: "fuzz-csv", run: DataFuzz.csv, seeds: DataFuzz.csvSeeds)
    /// NumPy `.npy`: a features + labels pair through an `npy` data source (`load(schema:)`).
    public static let npy = Harness(name: "fuzz-npy", run: DataFuzz.npy, seeds: DataFuzz.npySeeds)
}

enum DataFuzz {
    static let classes = ["a", "b", "c"]
    static let arraySchema = try! DataSchema(featureCount: 4, classes: classes)
    static let csvSchema = try! DataSchema(featureNames: ["x", "y", "z"], classes: classes)

    // MARK: safetensors

    @Sendable static func safeTensors(_ bytes: [UInt8]) {
        let limits = SafeTensors.Limits(maxFileBytes: 1 << 20)
        guard let file = try? SafeTensors(serialized: bytes, limits: limits) else { return }
        let again: SafeTensors
        do { again = try SafeTensors(serialized: file.serialized(), limits: limits) } catch {
            fatalError("an accepted safetensors file does not read back after re-encoding: \(error)")
        }
        precondition(again == file, "an accepted safetensors file changes when re-encoded")
        for name in file.sortedNames { _ = try? file[name]!.floatValues() }
        // As a data file: tensors `features` and `labels` through a safetensors data source.
        if file["features"] != nil, file["labels"] != nil {
            var source = DataSourceConfiguration(kind: .safetensors)
            source.path = FuzzFiles.scratch("data.safetensors", bytes)
            _ = try? source.load(schema: arraySchema)
        }
        guard let model = try? ModelState(safeTensors: file) else { return }
        _ = try? model.safeTensors().serialized()
        _ = try? model.classifier()
    }

    @Sendable static func safeTensorsSeeds() -> [(name: String, bytes: [UInt8])] {
        let standardized = try! ModelState.initial(.logisticRegression(featureCount: 2, classCount: 2), seed: 3)
            .with(standardization: Standardization(lower: [0, -1], upper: [1, 1]))
        let features = try! SafeTensors(
            tensors: [
                "features": .init(dtype: .float32, shape: [2, 4], bytes: [UInt8](repeating: 0, count: 32)),
                "labels": .init(dtype: .uint8, shape: [2], bytes: [0, 2]),
            ], metadata: ["note": "a data file"])
        return [
            (
                "logistic-regression",
                try! ModelState.initial(.logisticRegression(featureCount: 3, classCount: 2), seed: 1).safeTensors().serialized()
            ),
            (
                "mlp",
                try! ModelState.initial(.multilayerPerceptron(featureCount: 2, hidden: [3], activation: .relu, classCount: 2), seed: 2)
                    .safeTensors().serialized()
            ),
            ("flat", try! ModelState.zeros(.flat(dimension: 5)).safeTensors().serialized()),
            ("standardized", try! standardized.safeTensors().serialized()),
            ("data-file", features.serialized()),
        ]
    }

    // MARK: IDX

    /// An IDX file of unsigned bytes: magic, big-endian dimensions, the elements.
    static func idxFile(_ dimensions: [Int], _ elements: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { out += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return out + elements
    }

    /// The input: (images, labels) as ``FuzzInput`` parts.
    @Sendable static func idx(_ bytes: [UInt8]) {
        let parts = FuzzInput.split(bytes, into: 2)
        _ = try? IDXReader.parse(parts[0])
        _ = try? IDXReader.parse(parts[1], expectedMagic: IDXReader.labelsMagic)
        var source = DataSourceConfiguration(kind: .idx)
        source.imagesPath = FuzzFiles.scratch("images.idx", parts[0])
        source.labelsPath = FuzzFiles.scratch("labels.idx", parts[1])
        source.heldOutFraction = 0.25
        _ = try? source.load(schema: arraySchema)
    }

    @Sendable static func idxSeeds() -> [(name: String, bytes: [UInt8])] {
        [
            ("images-labels", FuzzInput.join([idxFile([3, 2, 2], Array(0..<12)), idxFile([3], [0, 1, 2])])),
            ("flat-images", FuzzInput.join([idxFile([2, 4], [0, 255, 7, 9, 1, 2, 3, 4]), idxFile([2], [2, 0])])),
        ]
    }

    // MARK: CSV

    @Sendable static func csv(_ bytes: [UInt8]) {
        let path = FuzzFiles.scratch("data.csv", bytes)
        _ = try? CSVReader.read(path: path, schema: csvSchema, labelColumn: "label", maxBytes: 1 << 20)
    }

    @Sendable static func csvSeeds() -> [(name: String, bytes: [UInt8])] {
        [
            ("plain", Array("x,y,z,label\n1,2,3,a\n4.5,-6e2,0,c\n".utf8)),
            ("reordered-extra", Array("id,label,z,x,y\n17,1,0.5,2,3\n18,b,1,2,3\r\n".utf8)),
            ("quoted", Array("\"x\",y,\"z\",label,note\n1,2,3,\"b\",\"a, \"\"quoted\"\"\nnote\"\n".utf8)),
        ]
    }

    // MARK: NumPy

    /// A `.npy` file (version 1.0) as `numpy.save` writes one.
    static func npyFile(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + data
    }

    /// The input: (features, labels) as ``FuzzInput`` parts.
    @Sendable static func npy(_ bytes: [UInt8]) {
        let parts = FuzzInput.split(bytes, into: 2)
        var source = DataSourceConfiguration(kind: .npy)
        source.featuresPath = FuzzFiles.scratch("features.npy", parts[0])
        source.labelsPath = FuzzFiles.scratch("labels.npy", parts[1])
        _ = try? source.load(schema: arraySchema)
    }

    @Sendable static func npySeeds() -> [(name: String, bytes: [UInt8])] {
        let floats = [Float](repeating: 0.5, count: 8).flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        return [
            (
                "float32-uint8",
                FuzzInput.join([npyFile(descr: "<f4", shape: [2, 4], data: floats), npyFile(descr: "|u1", shape: [2], data: [0, 2])])
            ),
            (
                "uint8-int64-3d",
                FuzzInput.join([
                    npyFile(descr: "|u1", shape: [2, 2, 2], data: Array(0..<8)),
                    npyFile(descr: "<i8", shape: [2, 1], data: [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]),
                ])
            ),
        ]
    }
}
