import Foundation
import TallyCore
import TallyLocalFederation
import TallyTestSupport
import Testing

/// What an operator installs: every executable says its version, and the systemd units in
/// deploy/systemd are valid and start commands that exist.
@Suite struct ServiceUnitTests {
    @Test(arguments: ["tally-coordinator", "tally-participant", "tally-audit"])
    func everyExecutableSaysItsVersion(executable: String) async throws {
        let result = try await Subprocess.run(TestEnvironment.executables + "/" + executable, ["--version"])
        #expect(result.status == 0 && result.output.trimmingCharacters(in: .whitespacesAndNewlines) == TallyVersion.current)
    }

    static let systemdAnalyze = "/usr/bin/systemd-analyze"

    /// The unit with the executables' install path pointed at this build.
    func unit(_ name: String, in directory: String, as copy: String? = nil, replacing edit: (String) -> String = { $0 }) throws -> String {
        let text = try String(contentsOfFile: TestEnvironment.repositoryRoot + "/deploy/systemd/" + name, encoding: .utf8)
        let path = directory + "/" + (copy ?? name)
        try edit(text.replacingOccurrences(of: "/usr/local/bin/", with: TestEnvironment.executables + "/"))
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(
        .enabled(if: FileManager.default.isExecutableFile(atPath: systemdAnalyze), "needs systemd-analyze (Debian: systemd)"),
        arguments: ["tally-coordinator.service", "tally-participant.service"])
    func theSystemdUnitsVerifyAndTheirCommandsExist(name: String) async throws {
        let directory = try TestDirectories.make("units")
        let verified = try await Subprocess.run(Self.systemdAnalyze, ["verify", try unit(name, in: directory)])
        #expect(verified.status == 0 && !verified.output.contains(name), "systemd-analyze verify:\n\(verified.output)")
        // Positive control: a misspelled key is what verify reports.
        let misspelled = try unit(name, in: directory, as: "misspelled-" + name) {
            $0.replacingOccurrences(of: "RestartSec=", with: "RestartSex=")
        }
        let broken = try await Subprocess.run(Self.systemdAnalyze, ["verify", misspelled])
        #expect(broken.output.contains("RestartSex"), "verify reports an unknown key:\n\(broken.output)")
        // Every command the unit runs is a subcommand the executable has.
        let text = try String(contentsOfFile: TestEnvironment.repositoryRoot + "/deploy/systemd/" + name, encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("ExecStart") {
            let words = line.split(separator: "=", maxSplits: 1)[1].split(separator: " ").map(String.init)
            let executable = TestEnvironment.executables + "/" + (words[0] as NSString).lastPathComponent
            let help = try await Subprocess.run(executable, [words[1], "--help"])
            #expect(help.status == 0 && help.output.contains("--config"), "\(words[0]) \(words[1]):\n\(help.output)")
        }
    }
}
