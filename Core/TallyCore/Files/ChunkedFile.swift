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
public final class ChunkedFile {
    public let path: String
    public let maxBytes: Int
    /// Bytes delivered so far.
    public private(set) var bytesRead = 0
    private let descriptor: Int32

    /// Opens `path`; `what` names the file in errors ("CSV data").
    public init(_ path: String, maxBytes: Int, what: String) throws(TallyError) {
        self.path = path
        self.maxBytes = maxBytes
        descriptor = try BoundedFile.openRegular(path, maxBytes: maxBytes, what: what).descriptor
    }

    deinit { close(descriptor) }

    /// Reads up to `count` bytes into `buffer`; 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(TallyError) -> Int {
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
                throw TallyError(.fileReadFailed, "cannot read \(path): \(BoundedFile.errorString(errno))")
            }
        }
    }
}
