import Foundation
import TallyCore
import TallyLocalFederation

/// Where the tests find what the repository and `swift build` provide.
public enum TestEnvironment {
    /// The repository root, found from this source file.
    public static let repositoryRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The `certs/` scripts.
    public static var certsScripts: String { repositoryRoot + "/certs" }

    /// Where `swift build` put the executables: beside the test bundle.
    public static var executables: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    /// Runs `certs/<script>` with bash; a failure is an error carrying its output.
    public static func certsScript(_ script: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        try Subprocess.check("/bin/bash", [certsScripts + "/" + script] + arguments, environment: environment)
    }

    /// Runs `openssl` (certificate fixtures made at test time, never committed) and returns its output.
    @discardableResult
    public static func openssl(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> String {
        try Subprocess.check("/usr/bin/env", ["openssl"] + arguments, environment: environment, directory: directory)
    }
}

/// One directory per test process under the system's temporary directory; directories left by
/// earlier test processes that have exited are removed when the first test asks for one.
public enum TestDirectories {
    static let root: String = {
        let temporary = NSTemporaryDirectory(), prefix = "tally-tests-run-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: temporary + "/" + name)
            }
        }
        return temporary + "/" + prefix + "\(getpid())"
    }()

    /// A fresh, empty directory named after `label`.
    public static func make(_ label: String) throws -> String {
        let path = root + "/\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
