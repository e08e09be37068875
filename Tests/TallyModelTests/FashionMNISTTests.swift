import TallyCore
import Testing

@testable import TallyModel

@Suite struct ModelFashionMNISTTests {
    private let directory = FashionMNIST.defaultDirectory

    /// An IDX file assembled by hand.
    private func idx(type: UInt8 = 0x08, dimensions: [UInt32], data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
        for d in dimensions { out += [UInt8(d >> 24), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return out + data
    }

    @Test func loadsTheInstalledDataset() throws {
        let (train, test) = try ModelTestData.load()
        #expect(train.count == 60_000)
        #expect(test.count == 10_000)
        #expect(train.featureCount == 784 && test.featureCount == 784)
        #expect(train.features.count == 60_000 * 784)
        // Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
        #expect(train.classCounts() == [Int](repeating: 6_000, count: 10))
        #expect(test.classCounts() == [Int](repeating: 1_000, count: 10))
        #expect(train.features.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(train.features.contains(1) && train.features.contains(0))
        // The first test image must equal the raw IDX pixels scaled by 1/255.
        let raw = try IDXReader.read(
            path: directory + "/t10k-images-idx3-ubyte.gz",
            expectedMagic: IDXReader.imagesMagic, maxBytes: 10_000_000)
        #expect(raw.dimensions == [10_000, 28, 28])
        #expect(Array(test.features(of: 0)) == raw.bytes[0..<784].map { Float($0) / 255 })
    }

    @Test func missingDatasetNamesTheDebianPackage() throws {
        let empty = try makeTemporaryDirectory()
        defer { removeFile(empty) }
        do {
            _ = try FashionMNIST.load(directory: empty)
            Issue.record("loading from an empty directory succeeded")
        } catch {
            #expect(error.code == .datasetNotFound)
            #expect(error.message.contains("dataset-fashion-mnist"))
        }
    }

    @Test func truncatedOrCorruptedGzipIsAnError() throws {
        let original = try readFile(directory + "/t10k-labels-idx1-ubyte.gz")
        let plain = try Gzip.decompress(original, maxOutputBytes: 1 << 20)
        #expect(plain.count == 8 + 10_000)
        let scratch = try makeTemporaryDirectory()
        defer { removeFile(scratch) }
        let path = scratch + "/labels.gz"

        var cases: [(String, [UInt8])] = []
        for cut in [10, original.count / 2, original.count - 4, original.count - 1] {
            cases.append(("truncated to \(cut)", Array(original[..<cut])))
        }
        var flipped = original
        flipped[original.count / 2] ^= 0x55 // deflate data: caught by decoding or the CRC-32
        cases.append(("corrupted body", flipped))
        var badCRC = original
        badCRC[original.count - 6] ^= 0x01 // the CRC-32 in the trailer
        cases.append(("corrupted CRC", badCRC))
        cases.append(("trailing garbage", original + [1, 2, 3]))

        for (label, bytes) in cases {
            #expect(throws: TallyError.self, "\(label)") { try Gzip.decompress(bytes, maxOutputBytes: 1 << 20) }
            try writeFile(path, bytes)
            #expect(throws: TallyError.self, "\(label)") {
                try IDXReader.read(path: path, expectedMagic: IDXReader.labelsMagic, maxBytes: 1 << 20)
            }
        }
        // The untouched copy reads fine through the same path, and concatenated members are gzip too.
        try writeFile(path, original)
        #expect(try IDXReader.read(path: path, expectedMagic: IDXReader.labelsMagic, maxBytes: 1 << 20).bytes.count == 10_000)
        #expect(try Gzip.decompress(original + original, maxOutputBytes: 1 << 20) == plain + plain)
    }

    @Test func decompressionIsCapped() throws {
        let original = try readFile(directory + "/t10k-labels-idx1-ubyte.gz")
        do {
            _ = try Gzip.decompress(original, maxOutputBytes: 10_007)
            Issue.record("decompressed past the cap")
        } catch {
            #expect(error.code == .sizeLimitExceeded)
        }
        #expect(try Gzip.decompress(original, maxOutputBytes: 10_008).count == 10_008)
    }

    @Test func truncatedSplitFailsToLoad() throws {
        let scratch = try makeTemporaryDirectory()
        defer { removeFile(scratch) }
        for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try writeFile(scratch + "/" + name, try readFile(directory + "/" + name))
        }
        #expect(try FashionMNIST.loadSplit(directory: scratch, prefix: "t10k").count == 10_000)
        let images = try readFile(directory + "/t10k-images-idx3-ubyte.gz")
        try writeFile(scratch + "/t10k-images-idx3-ubyte.gz", Array(images.dropLast(1000)))
        #expect(throws: TallyError.self) { try FashionMNIST.loadSplit(directory: scratch, prefix: "t10k") }
        // Images and labels swapped: wrong magic numbers.
        try writeFile(scratch + "/t10k-images-idx3-ubyte.gz", try readFile(directory + "/t10k-labels-idx1-ubyte.gz"))
        #expect(throws: TallyError.self) { try FashionMNIST.loadSplit(directory: scratch, prefix: "t10k") }
    }

    @Test func idxHeadersAreValidated() throws {
        let data = (0..<8).map { UInt8($0) }
        let good = try IDXReader.parse(idx(dimensions: [2, 2, 2], data: data), expectedMagic: IDXReader.imagesMagic)
        #expect(good.dimensions == [2, 2, 2] && good.bytes == data && good.magic == IDXReader.imagesMagic)
        let rejected: [[UInt8]] = [
            [],
            [0, 0, 8],
            idx(dimensions: [2, 2, 2], data: Array(data.dropLast())), // short
            idx(dimensions: [2, 2, 2], data: data + [0]), // long
            idx(type: 0x0D, dimensions: [2, 2, 2], data: data), // floats: unsupported
            [1] + Array(idx(dimensions: [2, 2, 2], data: data).dropFirst()), // nonzero magic prefix
            Array(idx(dimensions: [2, 2, 2], data: data).prefix(10)), // header cut
        ]
        for bytes in rejected {
            #expect(throws: TallyError.self) { try IDXReader.parse(bytes) }
        }
        // Right structure, wrong kind of file.
        #expect(throws: TallyError.self) { try IDXReader.parse(idx(dimensions: [8], data: data), expectedMagic: IDXReader.imagesMagic) }
        // Labels outside the class range are refused by Dataset.
        #expect(throws: TallyError.self) { try Dataset(features: [0, 0], labels: [0, 10], featureCount: 1, classCount: 10) }
    }
}
