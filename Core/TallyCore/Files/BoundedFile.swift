internal import Foundation

/// Reads a whole file only after checking its size against a limit, so a wrong path pointing
/// at something huge is an error, not an allocation. Used for configuration, PEM and registry files.
public enum BoundedFile {
    public static func read(_ path: String, maxBytes: Int, what: String) throws(TallyError) -> [UInt8] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int else {
            throw TallyError(.invalidArgument, "cannot read the \(what) file \(path)")
        }
        guard size <= maxBytes else {
            throw TallyError(.sizeLimitExceeded, "the \(what) file \(path) is \(size) bytes, over the limit of \(maxBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= maxBytes else {
            throw TallyError(.invalidArgument, "cannot read the \(what) file \(path)")
        }
        return [UInt8](data)
    }
}
