import Foundation
import TallyCore

extension ParticipantConfiguration {
    /// The `trainer` value that hands training to the organization's own program.
    public static let externalTrainerName = "external"
    /// The `trainer` value that trains the plan's model with the daemon's own code.
    public static let builtInTrainerName = "built-in"

    /// The organization's own training program (`trainer: "external"`), run once per round
    /// under the contract of docs/trainer-contract.md. The daemon alone clips, noises and masks
    /// what it returns.
    public struct ExternalTrainerSettings: Sendable, Codable, Hashable {
        /// The program and its arguments (no shell): `["/usr/bin/python3", "/opt/site/train.py"]`.
        /// The job file's path is added as the last argument. A program without a `/` is looked
        /// up in `PATH`.
        public var command: [String] = []
        /// Wall-clock limit for one round's run; past it the whole process group is stopped.
        public var timeLimitSeconds = 3_600.0
        /// Largest `trained.safetensors` accepted, in bytes.
        public var maxOutputBytes = 1 << 30
        /// Where the command runs; the daemon's own working directory when absent.
        public var workingDirectory: String? = nil

        public init() {}

        /// Bounds on the time limit, so a typo is an error, not a round that never ends.
        static let timeLimitRange = 1.0...604_800.0
        static let outputRange = 1_024...(1 << 34)

        /// Checked against `trainer`: the settings are required with `external` and refused
        /// without it (a command that would silently never run is a configuration mistake).
        func validate(trainer: String) throws(TallyError) {
            func fail(_ message: String) -> TallyError { TallyError(.invalidArgument, message) }
            guard trainer == ParticipantConfiguration.externalTrainerName else {
                guard command.isEmpty else {
                    throw fail(
                        "externalTrainer.command is set but trainer is \"\(trainer)\"; set trainer to \"external\" to use it")
                }
                return
            }
            guard let program = command.first else {
                throw fail("trainer is \"external\" but externalTrainer.command is empty; give the program and its arguments as an array")
            }
            if let bad = command.firstIndex(where: { $0.isEmpty || $0.contains("\0") }) {
                throw fail("externalTrainer.command[\(bad)] is empty or contains a NUL byte")
            }
            guard Self.resolve(program, workingDirectory: workingDirectory) != nil else {
                throw fail(
                    "externalTrainer.command[0] \"\(program)\" is not an executable file\(program.contains("/") ? "" : " found in PATH")")
            }
            guard timeLimitSeconds.isFinite, Self.timeLimitRange.contains(timeLimitSeconds) else {
                throw fail("externalTrainer.timeLimitSeconds must be in [1, 604800], got \(timeLimitSeconds)")
            }
            guard Self.outputRange.contains(maxOutputBytes) else {
                throw fail("externalTrainer.maxOutputBytes must be in 1024...\(1 << 34), got \(maxOutputBytes)")
            }
            if let workingDirectory {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw fail("externalTrainer.workingDirectory \"\(workingDirectory)\" is not a directory")
                }
            }
        }

        /// The executable `program` names: itself when it has a `/` (relative to the working
        /// directory if relative), otherwise the first match in `PATH`.
        static func resolve(_ program: String, workingDirectory: String? = nil) -> String? {
            func executable(_ path: String) -> Bool { BoundedFile.isRegularFile(path) && access(path, X_OK) == 0 }
            if program.contains("/") {
                let path = program.hasPrefix("/") || workingDirectory == nil ? program : workingDirectory! + "/" + program
                return executable(path) ? path : nil
            }
            let search = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            return search.split(separator: ":").map { "\($0)/\(program)" }.first(where: executable)
        }
    }
}
