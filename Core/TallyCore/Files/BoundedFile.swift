#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Whole-file reads with a size cap checked with `fstat` on the opened file before anything is
/// allocated, so a huge or hostile file (or a FIFO, a directory, a device) is refused instead of
/// exhausting memory or blocking. Used for configuration, PEM, registry, model and data files.
/// POSIX rather than Foundation keeps it free of Foundation's platform differences.
public enum BoundedFile {
    /// Whether `path` names an existing regular file.
    public static func isRegularFile(_ path: String) -> Bool { FileKind.of(path) == .regular }

    /// Opens `path` for reading without blocking and checks, on the opened file, that it is a
    /// regular file of at most `maxBytes`: the one way in for every bounded read. The caller
    /// closes the descriptor.
    static func openRegular(_ path: String, maxBytes: Int, what: String) throws(TallyError) -> (descriptor: Int32, size: Int) {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw TallyError(.fileReadFailed, "cannot open the \(what) file \(path): \(errorString(errno))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = errorString(errno)
            close(fd)
            throw TallyError(.fileReadFailed, "cannot stat the \(what) file \(path): \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw TallyError(.fileReadFailed, "the \(what) file \(path) is not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= maxBytes else {
            close(fd)
            throw TallyError(.sizeLimitExceeded, "the \(what) file \(path) is \(size) bytes, over the limit of \(maxBytes)")
        }
        return (fd, size)
    }

    /// The contents of the regular file at `path`, refusing files larger than `maxBytes`. `what`
    /// names the file in errors ("configuration", "certificate", "model").
    public static func read(_ path: String, maxBytes: Int, what: String) throws(TallyError) -> [UInt8] {
        let (fd, size) = try openRegular(path, maxBytes: maxBytes, what: what)
        defer { close(fd) }
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
            throw TallyError(.fileReadFailed, "cannot read the \(what) file \(path): \(errorString(failure))")
        }
        guard filled == size else {
            throw TallyError(.fileReadFailed, "the \(what) file \(path) changed size while it was read")
        }
        return bytes
    }

    static func errorString(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// `read(2)` under a name that does not clash with `BoundedFile.read` and `ChunkedFile.read`.
@inline(__always)
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
