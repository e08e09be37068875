import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TallyCore
import TallyModel
import TallyWire

/// The models an organization helped train, fetched from the coordinator over mutual TLS with
/// the organization's own certificate (`tally-participant models list|pull`). Nothing is trusted
/// because of where it came from: a version is written only after its manifest's signature
/// verifies under the federation CA and its blob's hash matches the manifest, and then
/// atomically.
public struct PublishedModels: Sendable {
    public let configuration: ParticipantConfiguration

    /// The largest compressed model accepted (as a round plan's limit).
    public static let maxCompressedBytes = 512 << 20

    public init(configuration: ParticipantConfiguration) {
        self.configuration = configuration
    }

    /// One line per fetchable version, and the published channel.
    public func list() async throws -> Tally_V1_ModelList {
        try await withFederation { federation in try await federation.listModels(Tally_V1_ListModelsRequest()) }
    }

    /// Fetches `version` (nil: the published channel's), verifies it, and writes its safetensors
    /// blob to `path`. Returns the verified manifest.
    @discardableResult
    public func pull(version: Int64?, to path: String) async throws -> ModelManifest {
        let request = Tally_V1_PullModelRequest.with { if let version { $0.version = version } }
        let (manifestBytes, signature, compressed) = try await withFederation { federation in
            try await federation.pullModel(request) { response in
                var manifest: (bytes: [UInt8], signature: [UInt8])?
                var data: [UInt8] = []
                var expected: (next: UInt32, count: UInt32)?
                for try await chunk in response.messages {
                    if manifest == nil {
                        guard chunk.index == 0, !chunk.manifest.isEmpty else {
                            throw TallyError(.malformedMessage, "the coordinator's first chunk carries no manifest")
                        }
                        manifest = ([UInt8](chunk.manifest), [UInt8](chunk.manifestSignature))
                        expected = (0, chunk.count)
                    }
                    guard let (next, count) = expected, chunk.index == next, chunk.count == count, next < count else {
                        throw TallyError(
                            .malformedMessage, "the coordinator sent model chunk \(chunk.index) of \(chunk.count) out of order")
                    }
                    guard data.count + chunk.data.count <= Self.maxCompressedBytes else {
                        throw TallyError(.sizeLimitExceeded, "the model is over \(Self.maxCompressedBytes >> 20) MiB compressed")
                    }
                    data += chunk.data
                    expected = (next + 1, count)
                }
                guard let manifest, let expected, expected.next == expected.count else {
                    throw TallyError(.malformedMessage, "the coordinator's model stream ended early")
                }
                return (manifest.bytes, manifest.signature, data)
            }
        }
        let trust = try FederationTrust(caFile: configuration.tls.certificateAuthority)
        let manifest = try await ModelManifest.verified(bytes: manifestBytes, signature: signature, trust: trust)
        if let version, manifest.version != version {
            throw TallyError(.integrityFailure, "asked for version \(version); the signed manifest is version \(manifest.version)")
        }
        let blob = try Zstd.decompress(compressed, maxOutputBytes: Self.maxCompressedBytes)
        guard Hex.encode(SHA256Digest.hash(blob)) == manifest.modelHash else {
            throw TallyError(.integrityFailure, "version \(manifest.version)'s model does not match the hash in its signed manifest")
        }
        // A file the daemon itself could load, or nothing.
        _ = try ModelState(safeTensors: try SafeTensors(serialized: blob))
        try DurableFile.write(blob, to: path)
        return manifest
    }

    private func withFederation<T: Sendable>(
        _ body: @Sendable @escaping (Tally_V1_Federation.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let c = configuration
        let transport = try c.tls.clientTransport(host: c.coordinatorHost, port: c.coordinatorPort) { $0.http2.maxFrameSize = 1 << 20 }
        do {
            return try await withGRPCClient(transport: transport) { client in
                try await body(Tally_V1_Federation.Client(wrapping: client))
            }
        } catch let error as RPCError {
            throw TallyError(.permissionDenied, "the coordinator refused: \(ParticipantDaemon.describe(error))")
        }
    }
}
