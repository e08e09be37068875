import Foundation
import Synchronization
import TallyCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs one external trainer command to its end, whatever it does: the product's process runner
/// (the test runner in TallyLocalFederation is not part of a participant).
///
/// The command runs in a process group of its own, so everything it starts (a Python interpreter
/// and its data-loader workers, a shell and its children) can be stopped together: at the time
/// limit or on cancellation SIGTERM goes to the whole group, then, after a grace period, SIGKILL.
/// When the command exits by itself, anything it left behind in its group is killed as well. The
/// group leader is reaped only after the group has been signalled, so its id cannot be reused by
/// an unrelated group in between.
///
/// Standard input is /dev/null; standard output and standard error go to one pipe of which only
/// the last ``tailBytes`` are kept, for the daemon's log. No other descriptor of the daemon (its
/// TLS connection, its ledger) is inherited.
struct TrainerProcess: Sendable {
    /// How the command ended.
    enum Ending: Sendable, Equatable {
        /// Exited by itself with this status.
        case exited(Int32)
        /// Ended by this signal, not sent by the daemon.
        case signaled(Int32)
        /// Stopped by the daemon at the time limit.
        case timedOut
        /// Stopped by the daemon because the training task was cancelled.
        case cancelled
        /// Reaped by someone else (only if this process ignores SIGCHLD): the status is unknown.
        case lost
    }

    struct Outcome: Sendable {
        var ending: Ending
        /// The last bytes the command wrote to standard output and standard error.
        var outputTail: String
        var seconds: Double
    }

    var command: [String]
    /// Added to the daemon's own environment.
    var environment: [String: String] = [:]
    var workingDirectory: String?
    var timeLimit: Duration
    /// Between SIGTERM and SIGKILL.
    var grace: Duration = .seconds(2)
    var tailBytes = 4096

    /// Starts the command and waits, off the cooperative pool, for it to end.
    func run() async throws(TallyError) -> Outcome {
        let (pid, output) = try spawn()
        let stop = StopFlag()
        let runner = self
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                DispatchQueue.global(qos: .userInitiated).async {
                    continuation.resume(returning: runner.supervise(pid: pid, output: output, stop: stop))
                }
            }
        } onCancel: {
            stop.set()
        }
    }

    // MARK: Starting

    private func spawn() throws(TallyError) -> (pid_t, Int32) {
        guard let program = command.first, !program.isEmpty else {
            throw TallyError(.trainerFailed, "externalTrainer.command is empty")
        }
        var fds: [Int32] = [-1, -1]
        guard Self.makePipe(&fds) == 0 else {
            throw TallyError(.trainerFailed, "cannot create a pipe for the external trainer: \(Self.describe(errno))")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(writeEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        if let workingDirectory {
            guard let addChdir = Self.addChdir else {
                close(readEnd)
                throw TallyError(
                    .trainerFailed, "externalTrainer.workingDirectory needs glibc 2.29 or later (posix_spawn_file_actions_addchdir_np)")
            }
            _ = workingDirectory.withCString { addChdir(&actions, $0) }
        }
        Self.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (id = its pid), no blocked signals, default handlers for the
        // signals the daemon may ignore (a trainer ignoring SIGPIPE or SIGTERM by inheritance
        // would be a surprise).
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let environment = ProcessInfo.processInfo.environment.merging(self.environment) { $1 }
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, &actions, &attributes, argv, envp)
        guard status == 0 else {
            close(readEnd)
            throw TallyError(.trainerFailed, "cannot start the external trainer \(program): \(Self.describe(status))")
        }
        return (pid, readEnd)
    }

    /// `posix_spawn_file_actions_addchdir_np`, which the Glibc module does not import.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")
    private static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2: Pipe2? = symbol("pipe2")

    /// A pipe whose ends close on exec, so a trainer started by another thread meanwhile cannot
    /// inherit them (and keep the pipe open): `pipe2`, or `pipe` and `fcntl` where it is missing.
    private static func makePipe(_ fds: inout [Int32]) -> Int32 {
        fds.withUnsafeMutableBufferPointer { buffer in
            if let pipe2 { return pipe2(buffer.baseAddress!, O_CLOEXEC) }
            guard pipe(buffer.baseAddress!) == 0 else { return -1 }
            for fd in buffer { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return 0
        }
    }

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }

    /// Descriptors 3 and up are closed in the child: with `closefrom` where the C library has it,
    /// otherwise one by one from the list of this process's open descriptors.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom {
            _ = addCloseFrom(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd >= 3 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    // MARK: Supervising

    /// Blocks this (non-cooperative) thread until the command has ended and been reaped.
    private func supervise(pid: pid_t, output: Int32, stop: StopFlag) -> Outcome {
        let start = ContinuousClock.now
        let deadline = start + timeLimit
        var tail = Tail(capacity: tailBytes)
        var open = true
        defer { close(output) }

        var ending: Ending
        while true {
            if let status = Self.exitStatus(pid) {
                ending = status
                break
            }
            if stop.isSet {
                ending = .cancelled
                break
            }
            let now = ContinuousClock.now
            if now >= deadline {
                ending = .timedOut
                break
            }
            let wait = min(Duration.milliseconds(50), deadline - now)
            if open {
                open = tail.read(from: output, waitMilliseconds: Int32(max(1, wait.milliseconds)))
            } else {
                usleep(UInt32(max(1_000, wait.milliseconds * 1_000)))
            }
        }

        if ending == .cancelled || ending == .timedOut {
            // The whole group: SIGTERM, a grace period for the leader to exit, then SIGKILL.
            kill(-pid, SIGTERM)
            let killAt = ContinuousClock.now + grace
            while Self.exitStatus(pid) == nil, ContinuousClock.now < killAt {
                if open {
                    open = tail.read(from: output, waitMilliseconds: 20)
                } else {
                    usleep(20_000)
                }
            }
        }
        // Whatever is left of the group (everything, at the deadline; stragglers, after a normal
        // exit) goes before the leader is reaped: until then its id cannot name another group.
        kill(-pid, SIGKILL)
        let final = Self.reap(pid)
        if ending != .cancelled, ending != .timedOut, ending != .lost { ending = final }
        // What the group wrote before it died; bounded, in case a descendant that left the group
        // still holds the pipe.
        let drainUntil = ContinuousClock.now + .milliseconds(500)
        while open, ContinuousClock.now < drainUntil {
            open = tail.read(from: output, waitMilliseconds: 50)
        }
        return Outcome(ending: ending, outputTail: tail.text, seconds: start.secondsElapsed)
    }

    /// How the process ended, if it has, without reaping it.
    private static func exitStatus(_ pid: pid_t) -> Ending? {
        var info = siginfo_t()
        while true {
            let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if result == -1, errno == EINTR { continue }
            if result == -1, errno == ECHILD { return .lost }
            guard result == 0, info._sifields._sigchld.si_pid == pid else { return nil }
            return ending(info)
        }
    }

    /// Waits for the process and reaps it.
    private static func reap(_ pid: pid_t) -> Ending {
        var info = siginfo_t()
        while true {
            let result = waitid(P_PID, id_t(pid), &info, WEXITED)
            if result == -1, errno == EINTR { continue }
            guard result == 0 else { return .lost }
            return ending(info)
        }
    }

    private static func ending(_ info: siginfo_t) -> Ending {
        let status = info._sifields._sigchld.si_status
        return Int(info.si_code) == Int(CLD_EXITED) ? .exited(status) : .signaled(status)
    }

    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Set once, from the cancellation handler; read by the supervising thread.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// The last `capacity` bytes of a stream.
private struct Tail {
    let capacity: Int
    private var bytes: [UInt8] = []

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Waits up to `waitMilliseconds` for data and appends what is there; false at end of file.
    mutating func read(from fd: Int32, waitMilliseconds: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, waitMilliseconds)
        guard ready > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress!, $0.count) }
        if n < 0 { return errno == EINTR || errno == EAGAIN }
        if n == 0 { return false }
        bytes.append(contentsOf: buffer[..<n])
        if bytes.count > 2 * capacity { bytes.removeFirst(bytes.count - capacity) }
        return true
    }

    var text: String {
        let kept = bytes.suffix(capacity)
        var text = String(decoding: kept, as: UTF8.self)
        // A cut line would start mid-character or mid-word: start at the next line if there is one.
        if bytes.count > capacity, let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `read(2)`, named apart from ``Tail/read(from:waitMilliseconds:)``.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}

extension TallyError.Code {
    /// The external trainer could not be started, failed, crashed or ran past its time limit.
    public static let trainerFailed = Self(rawValue: "trainer-failed")
    /// The external trainer finished but what it wrote breaks the contract (docs/trainer-contract.md).
    public static let trainerOutputInvalid = Self(rawValue: "trainer-output-invalid")
}
