#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// What a path names, by `stat(2)` (symbolic links followed, as SQLite follows them), without
/// opening it: opening a FIFO would block until a writer comes.
public enum FileKind: Equatable, Sendable {
    case missing, regular, directory
    /// A FIFO, socket or device.
    case other

    public static func of(_ path: String) -> FileKind {
        var info = stat()
        // Absent, a dangling link or an unreadable parent: the open that follows reports it.
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        default: return .other
        }
    }
}
