import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Whole-file reads with a size cap checked against `fstat` before anything is allocated, so a
/// huge or hostile file is refused instead of exhausting memory. POSIX rather than Foundation
/// keeps the model code free of Foundation and its platform differences.
enum FileBytes {
    /// Whether `path` names an existing regular file.
    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The contents of the regular file at `path`, refusing files larger than `maxBytes`.
    static func read(path: String, maxBytes: Int) throws(TallyError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw TallyError(.fileReadFailed, "cannot open \(path): \(errorString(errno))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw TallyError(.fileReadFailed, "cannot stat \(path): \(errorString(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TallyError(.fileReadFailed, "\(path) is not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= maxBytes else {
            throw TallyError(.sizeLimitExceeded, "\(path) is \(size) bytes, over the limit of \(maxBytes)")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var failure: Int32 = 0
        let filled = bytes.withUnsafeMutableBytes { buffer -> Int in
            var offset = 0
            while offset < size {
                let n = systemRead(fd, buffer.baseAddress! + offset, size - offset)
                if n > 0 {
                    offset += n
                } else if n == 0 {
                    break // The file shrank while we read it.
                } else if errno != EINTR {
                    failure = errno
                    break
                }
            }
            return offset
        }
        guard failure == 0 else {
            throw TallyError(.fileReadFailed, "cannot read \(path): \(errorString(failure))")
        }
        guard filled == size else {
            throw TallyError(.fileReadFailed, "\(path) changed size while it was read")
        }
        return bytes
    }

    private static func errorString(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// `read(2)` under a name that does not clash with `FileBytes.read`.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
