import Foundation
import TallyCore
import TallyModel
import TallyRound

/// What the registry says about one model version, signed by the coordinator. Participants verify
/// the signature (and that the signer's certificate is the federation's coordinator) before
/// training on a version.
public struct ModelManifest: Sendable, Codable, Hashable {
    public var version: Int64
    public var parent: Int64?
    public var roundID: Int64?
    /// SHA-256 (hex) of the uncompressed safetensors blob.
    public var modelHash: String
    public var cohortSize: Int
    public var contributors: Int
    public var training: TrainingSettings
    public var metrics: [String: Double]
    public var createdAt: String
    /// The signer's certificate (PEM), so a manifest can be verified offline with only the CA.
    public var coordinatorCertificate: String
    /// How this version came to be, beyond its parent and round: absent for the initial model and
    /// in manifests written before lineage was recorded.
    public var lineage: Lineage?
    /// Whether a round starting from this version also has every site score it on its held-out
    /// records, and how (``FederatedEvaluation``); both sides size the round's vector from it.
    /// nil: no federated evaluation (and in manifests written before it existed).
    public var evaluation: FederatedEvaluation?
    /// The federated evaluation of this version's parent, from the round that produced this version
    /// (the parent was the model that round started from).
    public var parentEvaluation: FederatedEvaluation.Metrics?

    /// The privacy and optimization history of a version, as the coordinator's ledger and
    /// configuration stood when it was published.
    public struct Lineage: Sendable, Codable, Hashable {
        /// `organization` (an organization's whole contribution) or `record`.
        public var privacyUnit: String
        /// ε (RDP, the bound budgets are enforced with) of the coordinator's whole ledger after
        /// this version's round, at `delta`: the worst case, as if one organization was in every round.
        /// nil: no finite bound (a benchmark round without masking or noise is on the ledger).
        public var epsilonSpent: Double?
        public var delta: Double
        /// z planned for the round.
        public var noiseMultiplier: Double
        /// The server step that produced it.
        public var serverOptimizer: ServerOptimizer.Settings

        public init(
            privacyUnit: String, epsilonSpent: Double?, delta: Double, noiseMultiplier: Double,
            serverOptimizer: ServerOptimizer.Settings
        ) {
            self.privacyUnit = privacyUnit
            self.epsilonSpent = epsilonSpent.flatMap { $0.isFinite ? $0 : nil }
            self.delta = delta
            self.noiseMultiplier = noiseMultiplier
            self.serverOptimizer = serverOptimizer
        }
    }

    /// Canonical bytes: sorted-key JSON. These exact bytes are what is signed and stored.
    public func canonicalBytes() throws(TallyError) -> [UInt8] { try signedJSON(self, what: "manifest") }

    public init(
        version: Int64, parent: Int64?, roundID: Int64?, modelHash: String, cohortSize: Int, contributors: Int,
        training: TrainingSettings, metrics: [String: Double], createdAt: Date, coordinatorCertificate: String,
        lineage: Lineage? = nil, evaluation: FederatedEvaluation? = nil, parentEvaluation: FederatedEvaluation.Metrics? = nil
    ) {
        self.lineage = lineage
        self.evaluation = evaluation
        self.parentEvaluation = parentEvaluation
        self.version = version
        self.parent = parent
        self.roundID = roundID
        self.modelHash = modelHash
        self.cohortSize = cohortSize
        self.contributors = contributors
        self.training = training
        self.metrics = metrics
        self.createdAt = ISO8601DateFormatter().string(from: createdAt)
        self.coordinatorCertificate = coordinatorCertificate
    }

    /// Parses manifest bytes (bounded) and checks the signature with `trust`: the embedded
    /// certificate must chain to the federation CA, name the coordinator, and have signed them.
    public static func verified(bytes: [UInt8], signature: [UInt8], trust: FederationTrust) async throws(TallyError) -> ModelManifest {
        guard bytes.count <= 1 << 20 else { throw TallyError(.sizeLimitExceeded, "manifest over 1 MiB") }
        let manifest: ModelManifest
        do { manifest = try JSONDecoder().decode(ModelManifest.self, from: Data(bytes)) } catch {
            throw TallyError(.malformedMessage, "manifest is not valid JSON", cause: error)
        }
        let (identity, key) = try await trust.verify(pem: manifest.coordinatorCertificate)
        guard identity == .coordinator else {
            throw TallyError(.permissionDenied, "manifest is signed by \(identity), not the coordinator")
        }
        do { try key.verify(signature, for: bytes) } catch {
            throw TallyError(.badSignature, "manifest of version \(manifest.version) does not carry a valid coordinator signature")
        }
        return manifest
    }
}

/// A move of the published channel an operator made (`registry rollback`), signed by the
/// coordinator like a manifest and kept beside the versions.
public struct ChannelStatement: Sendable, Codable, Hashable {
    public var channel = "published"
    public var publishedVersion: Int64
    public var modelHash: String
    public var reason: String
    public var at: String
    public var coordinatorCertificate: String

    public init(publishedVersion: Int64, modelHash: String, reason: String, at: String, coordinatorCertificate: String) {
        self.publishedVersion = publishedVersion
        self.modelHash = modelHash
        self.reason = reason
        self.at = at
        self.coordinatorCertificate = coordinatorCertificate
    }

    /// Sorted-key JSON: the bytes signed and stored.
    public func canonicalBytes() throws(TallyError) -> [UInt8] { try signedJSON(self, what: "channel statement") }
}

/// The bytes the coordinator signs for a registry document: sorted-key JSON, slashes unescaped.
private func signedJSON(_ value: some Encodable, what: String) throws(TallyError) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do { return [UInt8](try encoder.encode(value)) } catch {
        throw TallyError(.invalidArgument, "\(what) cannot be encoded", cause: error)
    }
}
