import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A regular file read in chunks, for text data too large to hold twice (bytes and parsed
/// values): the streaming sibling of ``BoundedFile`` with its guarantees — opened without
/// blocking, refused unless it is a regular file, its size checked with `fstat` against a cap
/// before anything is read, and bytes past the cap (a file that grows meanwhile) refused too.
final class ChunkedFile {
    let path: String
    let maxBytes: Int
    /// Bytes delivered so far.
    private(set) var bytesRead = 0
    private let descriptor: Int32

    /// Opens `path`; `what` names the file in errors ("CSV data").
    init(_ path: String, maxBytes: Int, what: String) throws(TallyError) {
        self.path = path
        self.maxBytes = maxBytes
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw TallyError(.fileReadFailed, "cannot open the \(what) file \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TallyError(.fileReadFailed, "cannot stat the \(what) file \(path): \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw TallyError(.fileReadFailed, "the \(what) file \(path) is not a regular file")
        }
        guard Int(info.st_size) <= maxBytes else {
            close(fd)
            throw TallyError(.sizeLimitExceeded, "the \(what) file \(path) is \(info.st_size) bytes, over the limit of \(maxBytes)")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Reads up to `count` bytes into `buffer`; 0 at the end of the file.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(TallyError) -> Int {
        while true {
            let n = systemRead(descriptor, buffer, count)
            if n >= 0 {
                bytesRead += n
                guard bytesRead <= maxBytes else {
                    throw TallyError(.sizeLimitExceeded, "\(path) grew past the limit of \(maxBytes) bytes while it was read")
                }
                return n
            }
            guard errno == EINTR else {
                throw TallyError(.fileReadFailed, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// `read(2)` under a name that does not clash with `ChunkedFile.read`.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
