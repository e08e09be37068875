import Foundation
import Synchronization
import TallyCore

/// One child process: started with arguments, environment and working directory, its output sent
/// to a log file, the terminal, nowhere, or captured; every wait bounded; stopped (SIGTERM, then
/// SIGKILL) by ``stop(signal:timeout:)`` or when the last reference goes away. The one process
/// runner of the local federation, the demo, the tests and the benchmarks.
public final class Subprocess: Sendable {
    /// Where the child's standard output and standard error go.
    public enum Output: Sendable {
        /// This process's own terminal.
        case inherit
        case discard
        /// Appended to this file (created if missing).
        case append(toFile: String)
        /// Kept, for ``capturedOutput`` once the process has exited.
        case capture
    }

    /// How a process that ran to completion ended.
    public struct Completion: Sendable {
        public let status: Int32
        /// Standard output and standard error, interleaved.
        public let output: String
    }

    public let executable: String
    public let arguments: [String]
    public let processIdentifier: Int32
    private let process: Process
    private let exit: ExitSignal
    /// The temporary file output is captured in, removed on deinit.
    private let captureFile: String?

    /// Starts `executable` (a path) now. `environment` is added to this process's own.
    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        directory: String? = nil, output: Output = .capture
    ) throws(TallyError) {
        self.executable = executable
        self.arguments = arguments
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var captureFile: String?
        let handle: FileHandle?
        do {
            switch output {
            case .inherit:
                handle = nil
            case .discard:
                handle = FileHandle.nullDevice
            case .append(let path):
                if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
                let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try file.seekToEnd()
                handle = file
            case .capture:
                let path = NSTemporaryDirectory() + "tally-subprocess-\(getpid())-\(UUID().uuidString).out"
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                captureFile = path
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            }
        } catch {
            throw TallyError(.invalidArgument, "cannot open the output of \(executable)", cause: error)
        }
        if let handle {
            process.standardOutput = handle
            process.standardError = handle
        }
        let exit = ExitSignal()
        process.terminationHandler = { finished in exit.finish(status: finished.terminationStatus) }
        do {
            try process.run()
        } catch {
            if let captureFile { try? FileManager.default.removeItem(atPath: captureFile) }
            throw TallyError(.invalidArgument, "cannot start \(executable)", cause: error)
        }
        // The child holds its own copy of the descriptor.
        if let handle, handle !== FileHandle.nullDevice { try? handle.close() }
        self.process = process
        self.exit = exit
        self.captureFile = captureFile
        self.processIdentifier = process.processIdentifier
    }

    deinit {
        stop()
        if let captureFile { try? FileManager.default.removeItem(atPath: captureFile) }
    }

    public var isRunning: Bool { exit.status == nil }

    /// The exit status (or the number of the signal that ended it); nil while it runs.
    public var exitStatus: Int32? { exit.status }

    /// What the process wrote, when started with `.capture` (so far, if it still runs).
    public var capturedOutput: String {
        guard let captureFile, let data = FileManager.default.contents(atPath: captureFile) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    public func send(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// Waits, without blocking a thread, for the process to exit: its status, or nil after `timeout`.
    public func exited(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while exit.status == nil, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return exit.status
    }

    /// Blocks the calling thread until the process exits: its status, or nil after `timeout`.
    public func waitForExit(timeout: Duration) -> Int32? {
        exit.wait(timeout: timeout)
    }

    /// Sends `signal`, waits up to `timeout` for the process to exit, then kills it; returns
    /// once it has exited. Nothing happens to a process that has already exited.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) {
        guard isRunning else { return }
        kill(processIdentifier, signal)
        if waitForExit(timeout: timeout) == nil {
            kill(processIdentifier, SIGKILL)
            _ = waitForExit(timeout: .seconds(60))
        }
    }

    /// Runs `executable` to completion, its output captured. A process still running after
    /// `timeout` is killed and reported as an error.
    public static func run(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        directory: String? = nil, timeout: Duration = .seconds(300)
    ) throws(TallyError) -> Completion {
        let process = try Subprocess(executable, arguments, environment: environment, directory: directory)
        guard let status = process.waitForExit(timeout: timeout) else {
            process.stop(signal: SIGKILL)
            throw TallyError(.invalidArgument, "\(process.commandLine) did not finish within \(timeout): \(process.capturedOutput)")
        }
        return Completion(status: status, output: process.capturedOutput)
    }

    /// Like ``run(_:_:environment:directory:timeout:)``, awaiting the exit instead of blocking.
    public static func run(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        directory: String? = nil, timeout: Duration = .seconds(300)
    ) async throws(TallyError) -> Completion {
        let process = try Subprocess(executable, arguments, environment: environment, directory: directory)
        guard let status = await process.exited(within: timeout) else {
            process.stop(signal: SIGKILL)
            throw TallyError(.invalidArgument, "\(process.commandLine) did not finish within \(timeout): \(process.capturedOutput)")
        }
        return Completion(status: status, output: process.capturedOutput)
    }

    /// Runs `executable` to completion and returns its output; a non-zero exit is an error
    /// carrying that output.
    @discardableResult
    public static func check(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        directory: String? = nil, timeout: Duration = .seconds(300)
    ) throws(TallyError) -> String {
        let completion = try run(executable, arguments, environment: environment, directory: directory, timeout: timeout)
        guard completion.status == 0 else {
            throw TallyError(
                .invalidArgument,
                "\(([executable] + arguments).joined(separator: " ")) exited with status \(completion.status): \(completion.output)")
        }
        return completion.output
    }

    var commandLine: String { ([executable] + arguments).joined(separator: " ") }
}

/// The exit status, set once by the termination handler, and a semaphore for blocking waits.
private final class ExitSignal: Sendable {
    private let state = Mutex<Int32?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)

    var status: Int32? { state.withLock { $0 } }

    func finish(status: Int32) {
        state.withLock { $0 = status }
        semaphore.signal()
    }

    func wait(timeout: Duration) -> Int32? {
        if let status { return status }
        let seconds = timeout.seconds
        guard semaphore.wait(timeout: .now() + min(seconds, 1e6)) == .success else { return status }
        semaphore.signal() // one signal, any number of waiters
        return status
    }
}
