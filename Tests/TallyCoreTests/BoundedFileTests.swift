import Foundation
import TallyCore
import Testing

/// Files that lie about what they are: refused with the file named, never read without bound,
/// never waited on.
@Suite struct BoundedFileTests {
    let directory = NSTemporaryDirectory() + "tally-bounded-file-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    @Test func aFIFOIsRefusedAtOnceInsteadOfBlocking() throws {
        let path = directory + "/fifo.json"
        #expect(mkfifo(path, 0o600) == 0)
        // Without O_NONBLOCK, open(2) would wait here for a writer forever.
        let error = #expect(throws: TallyError.self) { try BoundedFile.read(path, maxBytes: 1 << 20, what: "configuration") }
        #expect(
            error?.code == .fileReadFailed && error?.message.contains("not a regular file") == true && error?.message.contains(path) == true
        )
    }

    @Test func sizeDirectoriesAndMissingFilesAreRefusedNamingTheFile() throws {
        let big = directory + "/big.pem"
        try Data(repeating: 65, count: 2048).write(to: URL(fileURLWithPath: big))
        let tooBig = #expect(throws: TallyError.self) { try BoundedFile.read(big, maxBytes: 1024, what: "certificate") }
        #expect(tooBig?.code == .sizeLimitExceeded && tooBig?.message.contains("certificate file \(big)") == true)
        #expect(try BoundedFile.read(big, maxBytes: 2048, what: "certificate").count == 2048)
        let directoryError = #expect(throws: TallyError.self) { try BoundedFile.read(directory, maxBytes: 1024, what: "model") }
        #expect(directoryError?.code == .fileReadFailed)
        let missing = #expect(throws: TallyError.self) { try BoundedFile.read(directory + "/none", maxBytes: 1024, what: "model") }
        #expect(missing?.code == .fileReadFailed && missing?.message.contains("No such file") == true)
    }
}
