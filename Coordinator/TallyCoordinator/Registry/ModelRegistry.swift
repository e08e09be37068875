import Foundation
import TallyCore
import TallyWire

/// Content-addressed model blobs: `registry/blobs/<sha256>.safetensors.zst`, plus one signed
/// manifest per version (`registry/manifests/<version>.json` and `.sig`). The SQLite index is
/// the source of truth for which versions are published; files are written and synced first,
/// so a version in the index always has its files, and files without an index entry are inert.
public struct ModelRegistry: Sendable {
    public let directory: String
    /// Largest model accepted on decompression.
    public static let maxModelBytes = 512 << 20

    public init(directory: String) throws(TallyError) {
        self.directory = directory
        for sub in ["blobs", "manifests"] {
            do {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            } catch {
                throw TallyError(.storageFailure, "cannot create \(directory)/\(sub)", cause: error)
            }
        }
    }

    public func blobPath(hash: String) -> String { "\(directory)/blobs/\(hash).safetensors.zst" }

    /// Stores a model (safetensors bytes) and returns its hash; idempotent.
    @discardableResult
    public func storeBlob(_ safetensors: [UInt8]) throws(TallyError) -> String {
        let hash = Hex.encode(SHA256Digest.hash(safetensors))
        let path = blobPath(hash: hash)
        if !FileManager.default.fileExists(atPath: path) {
            try DurableFile.write(try Zstd.compress(safetensors), to: path)
        }
        return hash
    }

    /// The compressed blob as stored (what is streamed to participants).
    public func compressedBlob(hash: String) throws(TallyError) -> [UInt8] {
        try DurableFile.read(blobPath(hash: hash), maxBytes: Self.maxModelBytes)
    }

    /// The model bytes, decompressed and checked against their hash.
    public func blob(hash: String) throws(TallyError) -> [UInt8] {
        let bytes = try Zstd.decompress(try compressedBlob(hash: hash), maxOutputBytes: Self.maxModelBytes)
        guard Hex.encode(SHA256Digest.hash(bytes)) == hash else {
            throw TallyError(.integrityFailure, "registry blob \(hash) does not match its hash (corrupted on disk)")
        }
        return bytes
    }

    public func storeManifest(version: Int64, manifest: [UInt8], signature: [UInt8]) throws(TallyError) {
        try DurableFile.write(manifest, to: "\(directory)/manifests/\(version).json")
        try DurableFile.write(signature, to: "\(directory)/manifests/\(version).sig")
    }
}
