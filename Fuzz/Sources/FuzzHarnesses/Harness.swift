#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One fuzzing harness: a decoder of outside input, fed arbitrary bytes, and the valid inputs
/// that start its corpus (made by the product's own encoders where it has them).
///
/// Thrown errors are the decoders' answer to bad input and are fine; a finding is only a trap,
/// a sanitizer report, a leak or a hang.
public struct Harness: Sendable {
    public let name: String
    public let run: @Sendable ([UInt8]) -> Void
    public let seeds: @Sendable () -> [(name: String, bytes: [UInt8])]

    public init(
        name: String, run: @escaping @Sendable ([UInt8]) -> Void,
        seeds: @escaping @Sendable () -> [(name: String, bytes: [UInt8])]
    ) {
        self.name = name
        self.run = run
        self.seeds = seeds
    }

    /// libFuzzer's entry: the input as bytes.
    public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        let bytes = count == 0 || start == nil ? [] : [UInt8](UnsafeBufferPointer(start: start, count: count))
        run(bytes)
        return 0
    }

    /// libFuzzer's initializer: `--write-seeds=DIR` writes the seeds into DIR and exits; every
    /// other argument is libFuzzer's.
    public func initialize(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
    )
        -> CInt
    {
        guard let arguments = argv.pointee else { return 0 }
        let prefix = "--write-seeds="
        for i in 1..<Int(argc.pointee) {
            guard let raw = arguments[i] else { continue }
            let argument = String(cString: raw)
            guard argument.hasPrefix(prefix) else { continue }
            let directory = String(argument.dropFirst(prefix.count))
            mkdir(directory, 0o755)
            for seed in seeds() {
                // Every seed must decode without a finding: run it once before writing it.
                run(seed.bytes)
                guard FuzzFiles.write(seed.bytes, to: directory + "/" + seed.name) else {
                    print("cannot write \(directory)/\(seed.name)")
                    exit(1)
                }
            }
            print("\(name): wrote \(seeds().count) seeds to \(directory)")
            fflush(nil)
            // Not exit(): the leak check at exit would report this frame's strings, never released.
            _exit(0)
        }
        return 0
    }
}

/// Files for the decoders that only read from a path: one scratch directory per process.
public enum FuzzFiles {
    /// A per-process directory under FUZZ_SCRATCH (`Fuzz/run` points it into /dev/shm), else
    /// under /dev/shm where there is one, else under TMPDIR or /tmp; made on first use. Memory, not
    /// disk: on ext4 a file rewritten in place is flushed on close, and the file-reading harnesses
    /// waited on the disk.
    public static let directory: String = {
        let base =
            getenv("FUZZ_SCRATCH").map { String(cString: $0) }
            ?? (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        let path = "\(base)/tally-fuzz-\(getpid())"
        mkdir(path, 0o700)
        return path
    }()

    /// `bytes` written to `name` in the scratch directory; the path.
    public static func scratch(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory + "/" + name
        unlink(path)
        guard write(bytes, to: path) else { fatalError("cannot write the scratch file \(path)") }
        return path
    }

    public static func write(_ bytes: [UInt8], to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { return false }
            written += n
        }
        return true
    }
}

/// Splits one fuzz input into parts: each part but the last is preceded by its length (u16,
/// little-endian), so the fuzzer mutates lengths and contents together. Missing parts are empty.
public enum FuzzInput {
    public static func split(_ bytes: [UInt8], into parts: Int) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 0
        for _ in 0..<(parts - 1) {
            guard offset + 2 <= bytes.count else {
                result.append([])
                continue
            }
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            offset += 2
            let end = min(bytes.count, offset + length)
            result.append(Array(bytes[offset..<end]))
            offset = end
        }
        result.append(offset < bytes.count ? Array(bytes[offset...]) : [])
        return result
    }

    /// The inverse of ``split(_:into:)``.
    public static func join(_ parts: [[UInt8]]) -> [UInt8] {
        var result: [UInt8] = []
        for part in parts.dropLast() {
            precondition(part.count <= 0xFFFF)
            result += [UInt8(part.count & 0xFF), UInt8(part.count >> 8)] + part
        }
        return result + (parts.last ?? [])
    }
}

extension Harness {
    /// Every harness, by name (the executable targets and `Fuzz/run` use the same names).
    public static let all: [Harness] = [
        .secAggMessages, .chunks, .wireProtobuf, .safeTensors, .idx, .csv, .npy, .ledgerRows, .ledgerFile, .coordinatorConfig,
        .participantConfig, .json, .certificates, .modelMetadata,
    ]
}

#if FUZZ_REPLAY
    import Foundation

    extension Harness {
        /// Without libFuzzer (built with `-DFUZZ_REPLAY` and no sanitizer, `Fuzz/run --replay`):
        /// runs every file named, and every file in each directory named, once. A finding traps.
        public func replay(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
            var count = 0
            for i in 1..<Int(argc) {
                guard let raw = argv?[i] else { continue }
                let path = String(cString: raw)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    print("\(name): no file or directory \(path)")
                    return 1
                }
                let files =
                    isDirectory.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    run([UInt8](data))
                    count += 1
                }
            }
            print("\(name): replayed \(count) inputs")
            return 0
        }
    }
#else
    /// libFuzzer's driver, for a `main` of one's own (public since LLVM 11).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    extension Harness {
        /// Runs libFuzzer with `argv` and `callback` (the harness's `LLVMFuzzerTestOneInput`).
        public static func runDriver(
            _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
            _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
        ) -> CInt {
            var argc = argc
            var argv = argv
            return LLVMFuzzerRunDriver(&argc, &argv, callback)
        }
    }
#endif
