import Foundation
import TallyCore
import TallyLedger
import TallyModel
import TallySecAgg
import TallyStatus
import TallyWire

/// One organization's daemon settings, from a JSON file (``load(path:)``); absent keys, at any
/// depth, take the defaults declared here and in the nested types.
public struct ParticipantConfiguration: Sendable, Codable, ConfigurationFile {
    public var coordinatorHost = "127.0.0.1"
    public var coordinatorPort = 7443
    /// This organization's certificate and key, and the federation CA.
    public var tls = TLSFiles(directory: "tally-data/pki/participant-1")
    /// Local state: the privacy ledger of the rounds this organization contributed to.
    public var dataDirectory = "tally-data/participant-1"
    public var data = DataSource()
    /// `built-in` trains the federation's model (logistic regression or MLP, as the plan's model
    /// says) on `data` (`logistic-regression` is accepted as a former name); `external` runs the
    /// organization's own program (`externalTrainer`); `noop` (benchmark) sends a zero update of
    /// the model's size without loading any data.
    public var trainer = Self.builtInTrainerName
    /// The program `trainer: "external"` runs each round; refused with any other trainer.
    public var externalTrainer = ExternalTrainerSettings()
    /// The privacy budget this organization allows itself: the daemon declines any round that
    /// would take its ε (RDP bound, at this δ) past it.
    public var privacyBudget = PrivacyBudget()
    /// This organization's own minimums for any round (collusion margin, cohort size, threshold,
    /// allowed peers): plans below them are declined, whoever runs the coordinator and the CA.
    public var roundRequirements = RoundRequirements()
    /// Reconnect backoff: first delay and cap, in seconds (with full jitter).
    public var reconnectInitialSeconds = 0.2
    public var reconnectMaxSeconds = 10.0
    /// Consecutive attempts refused for a reason retrying cannot fix (a certificate the other
    /// side does not accept, an identity the coordinator refuses) before the daemon gives up.
    public var permanentFailureAttempts = 5
    /// Largest message accepted from the coordinator, in bytes.
    public var maxMessageBytes = 8 << 20
    /// This organization's own status page and `/metrics`, on this machine only.
    public var status = StatusSettings(port: 7481)
    /// Benchmark-only: take part in rounds the coordinator runs without masking or without noise
    /// (and charge nothing for noise-free ones). Off by default: a daemon on real data declines
    /// any plan that asks for its update unmasked or un-noised.
    public var allowInsecureBenchmarkRounds = false

    /// Where the training examples come from. `source` names this organization's own file
    /// (CSV, NumPy, safetensors, IDX: ``DataSourceConfiguration``); without one, the built-in
    /// source is a partition of the Fashion-MNIST training split: `organizations` parts drawn
    /// non-IID with Dirichlet(`alpha`) and a fixed `seed`, of which this organization holds part
    /// `index` (the keys every existing configuration uses, so they keep working).
    public struct DataSource: Sendable, Codable, Hashable {
        public var fashionMNISTDirectory = FashionMNIST.defaultDirectory
        public var organizations = 5
        public var index = 0
        public var alpha = 1.0
        public var seed: UInt64 = 7
        /// This organization's own data; nil trains on the partition above.
        public var source: DataSourceConfiguration? = nil
        /// What the federation's task expects of the data; nil is Fashion-MNIST's. Read from
        /// this file until the round plan carries the task's schema: until then every site must
        /// write the same one.
        public var schema: DataSchema? = nil
        /// The fraction of the examples held out from training for local evaluation, in [0, 1),
        /// and the seed that picks them; they apply to `source` or the partition alike.
        public var heldOutFraction = 0.0
        public var heldOutSeed: UInt64 = 0
        /// Feature transforms to compute at start-up, before joining: the ones the federation's
        /// model uses (its `model.features`), so the first round does not wait for them. Any
        /// other a model asks for is computed when its first round arrives.
        public var prepareFeatures: [String] = []
        public init() {}

        /// ``prepareFeatures`` as transforms; an unknown name is an error naming the key.
        public func preparedFeatures() throws(TallyError) -> [FeatureTransform] {
            var transforms: [FeatureTransform] = []
            for name in prepareFeatures {
                guard let transform = FeatureTransform(rawValue: name) else {
                    throw TallyError(
                        .invalidArgument,
                        "data.prepareFeatures: \"\(name)\" is not a feature transform; known: \(FeatureTransform.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                transforms.append(transform)
            }
            return transforms
        }

        /// The source to load: `source` or the partition, with this section's held-out part.
        public var resolvedSource: DataSourceConfiguration {
            var resolved: DataSourceConfiguration
            if let source {
                resolved = source
            } else {
                resolved = DataSourceConfiguration(kind: .fashionMNISTPartition)
                resolved.directory = fashionMNISTDirectory
                resolved.organizations = organizations
                resolved.index = index
                resolved.alpha = alpha
                resolved.seed = seed
            }
            resolved.heldOutFraction = heldOutFraction
            resolved.heldOutSeed = heldOutSeed
            return resolved
        }

        /// The schema sources are checked against.
        public var resolvedSchema: DataSchema { schema ?? .fashionMNIST }

        /// A description for the log: the source, or the partition this organization holds.
        public var summary: String { resolvedSource.summary }

        /// Checks the section; messages name the key under `data`.
        func validate() throws(TallyError) {
            func fail(_ message: String) -> TallyError { TallyError(.invalidArgument, message) }
            guard organizations >= 1, (0..<organizations).contains(index) else {
                throw fail("data.index must be in 0..<data.organizations")
            }
            guard alpha > 0, alpha.isFinite else { throw fail("data.alpha must be positive") }
            guard heldOutFraction.isFinite, heldOutFraction >= 0, heldOutFraction < 1 else {
                throw fail("data.heldOutFraction must be in [0, 1), got \(heldOutFraction)")
            }
            _ = try preparedFeatures()
            guard let source else { return }
            guard source.heldOutFraction == 0, source.heldOutSeed == 0 else {
                throw fail("data.source: set the held-out part with data.heldOutFraction and data.heldOutSeed")
            }
            do { try source.validate() } catch { throw fail("data.source: \(error.message)") }
            if source.kind == .csv, schema?.featureNames == nil {
                throw fail("data.schema with featureNames is needed for a csv source (its columns are matched by name)")
            }
        }
    }

    public struct PrivacyBudget: Sendable, Codable, Hashable {
        public var epsilon = TallyLedger.PrivacyBudget.defaultEpsilon
        public var delta = TallyLedger.PrivacyBudget.defaultDelta
        /// What this budget protects. An organization-level budget (the default) declines
        /// record-level rounds: a guarantee for each record says nothing about the organization as
        /// a whole. A record-level budget takes both kinds, charging organization-level rounds at
        /// their ε (which bounds the record-level one).
        public var unit = PrivacyUnit.organization
        public init() {}
    }

    public init() {}

    /// The privacy ledger the daemon keeps in its data directory.
    public var ledgerPath: String { dataDirectory + "/" + BudgetGuard.fileName }

    /// Every value checked before the daemon uses it, with an error naming the key: numbers the
    /// daemon turns into ports, delays or sizes used to trap instead.
    public func validate() throws(TallyError) {
        func fail(_ message: String) -> TallyError { TallyError(.invalidArgument, message) }
        guard (1...65_535).contains(coordinatorPort) else { throw fail("coordinatorPort must be in 1...65535, got \(coordinatorPort)") }
        guard !coordinatorHost.isEmpty else { throw fail("coordinatorHost must not be empty") }
        guard reconnectInitialSeconds.isFinite, reconnectInitialSeconds >= 0.01, reconnectInitialSeconds <= 3_600 else {
            throw fail("reconnectInitialSeconds must be in [0.01, 3600], got \(reconnectInitialSeconds)")
        }
        guard reconnectMaxSeconds.isFinite, reconnectMaxSeconds >= reconnectInitialSeconds, reconnectMaxSeconds <= 86_400 else {
            throw fail("reconnectMaxSeconds must be in [reconnectInitialSeconds, 86400], got \(reconnectMaxSeconds)")
        }
        guard (1...1000).contains(permanentFailureAttempts) else {
            throw fail("permanentFailureAttempts must be in 1...1000, got \(permanentFailureAttempts)")
        }
        guard (64 << 10...1 << 30).contains(maxMessageBytes) else {
            throw fail("maxMessageBytes must be in 65536...1073741824, got \(maxMessageBytes)")
        }
        try data.validate()
        try status.validate(key: "status", allowsOperatorTLS: false)
        guard [Self.builtInTrainerName, "logistic-regression", Self.externalTrainerName, "noop"].contains(trainer) else {
            throw fail("trainer must be built-in, external or noop, got \(trainer)")
        }
        try externalTrainer.validate(trainer: trainer)
        guard privacyBudget.epsilon.isFinite, privacyBudget.epsilon >= 0, privacyBudget.delta > 0, privacyBudget.delta < 1 else {
            throw fail("privacyBudget needs a finite epsilon ≥ 0 and a delta in (0, 1)")
        }
        let r = roundRequirements
        guard r.minimumCollusionMargin >= 0, r.minimumCohort >= 2, (0...1).contains(r.minimumThresholdFraction) else {
            throw fail("roundRequirements needs minimumCollusionMargin ≥ 0, minimumCohort ≥ 2 and minimumThresholdFraction in [0, 1]")
        }
        try tls.validate()
    }
}
