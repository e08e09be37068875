internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Files written so that a crash leaves either the old content or the new, never a torn file:
/// write a temporary file, fsync it, rename over the target, fsync the directory.
public enum DurableFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(TallyError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TallyError(.storageFailure, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in posixWrite(fd, raw.baseAddress! + offset, raw.count - offset) }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw TallyError(.storageFailure, "writing \(path) failed: \(reason) (disk full?); nothing was replaced")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            close(fd)
            unlink(temporary)
            throw TallyError(.storageFailure, "syncing \(path) failed: \(String(cString: strerror(errno)))")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TallyError(.storageFailure, "renaming into \(path) failed: \(String(cString: strerror(errno)))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    public static func read(_ path: String, maxBytes: Int) throws(TallyError) -> [UInt8] {
        try BoundedFile.read(path, maxBytes: maxBytes, what: "registry")
    }
}

/// `write(2)`, named apart from ``DurableFile/write(_:to:)``.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

extension TallyError.Code {
    /// The database or the file system refused a write or a read.
    public static let storageFailure = Self(rawValue: "storage-failure")
}
