import Foundation
import TallyCore

@testable import TallyModel

/// Fashion-MNIST, loaded once for all model tests (decompressing 30 MB per test would dominate
/// the run). A failure to load is kept and rethrown by every test that needs the data.
enum ModelTestData {
    static let fashionMNIST: Result<(train: Dataset, test: Dataset), TallyError> =
        Result { () throws(TallyError) in try FashionMNIST.load() }

    static func load() throws -> (train: Dataset, test: Dataset) { try fashionMNIST.get() }
}

/// A fresh temporary directory for one test.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "tally-model-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func removeFile(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
