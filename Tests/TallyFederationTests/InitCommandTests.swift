import Foundation
import TallyLocalFederation
import TallyTestSupport
import Testing

/// `init` writes a starting configuration every role can load as written; `check-config` finds
/// what is wrong in one without starting anything.
@Suite struct InitCommandTests {
    @Test(arguments: [("tally-coordinator", "coordinator.json"), ("tally-participant", "participant.json")])
    func initWritesALoadableFileAndCheckConfigJudgesIt(executable: String, file: String) async throws {
        let directory = try TestDirectories.make("init-\(executable)")
        let binary = TestEnvironment.executables + "/" + executable
        let path = directory + "/" + file
        let written = try await Subprocess.run(binary, ["init", "--output", path])
        #expect(written.status == 0, "\(written.output)")
        let again = try await Subprocess.run(binary, ["init", "--output", path])
        #expect(again.status != 0 && again.output.contains("exists"), "an existing file is kept: \(again.output)")

        // The defaults name TLS files that do not exist here: check-config says so, naming the key.
        let missing = try await Subprocess.run(binary, ["check-config", "--config", path])
        #expect(missing.status == 2 && missing.output.contains(path), "\(missing.output)")

        // With the test PKI's files it is valid…
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let role = executable == "tally-coordinator" ? "coordinator" : "participant-1"
        let pki = TestPKI.shared.directory + "/" + role
        text = text.replacingOccurrences(of: #"tally-data/pki/[a-z0-9-]+/"#, with: pki + "/", options: .regularExpression)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let valid = try await Subprocess.run(binary, ["check-config", "--config", path])
        #expect(valid.status == 0 && valid.output.contains("valid"), "\(valid.output)")

        // …and one misspelled key is refused with the closest known key.
        try text.replacingOccurrences(of: "\"maxMessageBytes\"", with: "\"maxMessageByte\"").write(
            toFile: path, atomically: true, encoding: .utf8)
        let misspelled = try await Subprocess.run(binary, ["check-config", "--config", path])
        #expect(misspelled.status == 2 && misspelled.output.contains("maxMessageBytes"), "\(misspelled.output)")
    }
}
