import Foundation
import TallyCore
import TallyModel
import TallySecAgg
import TallyWire

/// One organization's daemon settings, from a JSON file (``load(path:)``); absent keys, at any
/// depth, take the defaults declared here and in the nested types.
public struct ParticipantConfiguration: Sendable, Codable {
    public var coordinatorHost = "127.0.0.1"
    public var coordinatorPort = 7443
    /// This organization's certificate and key, and the federation CA.
    public var tls = TLSFiles(directory: "tally-data/pki/participant-1")
    /// Local state: the privacy ledger of the rounds this organization contributed to.
    public var dataDirectory = "tally-data/participant-1"
    public var data = DataSource()
    /// `logistic-regression` (trains on `data`), `external` (the organization's own program,
    /// `externalTrainer`; docs/trainer-contract.md) or `noop` (benchmark: sends a zero update of
    /// the model's size without loading any data).
    public var trainer = "logistic-regression"
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
    /// Largest message accepted from the coordinator, in bytes.
    public var maxMessageBytes = 8 << 20
    /// Benchmark-only: take part in rounds the coordinator runs without masking or without noise
    /// (and charge nothing for noise-free ones). Off by default: a daemon on real data declines
    /// any plan that asks for its update unmasked or un-noised.
    public var allowInsecureBenchmarkRounds = false

    /// Where the training examples come from. The built-in source is a partition of the
    /// Fashion-MNIST training split: `organizations` parts drawn non-IID with Dirichlet(`alpha`)
    /// and a fixed `seed`, of which this organization holds part `index`.
    public struct DataSource: Sendable, Codable, Hashable {
        public var fashionMNISTDirectory = FashionMNIST.defaultDirectory
        public var organizations = 5
        public var index = 0
        public var alpha = 1.0
        public var seed: UInt64 = 7
        public init() {}
    }

    public struct PrivacyBudget: Sendable, Codable, Hashable {
        public var epsilon = 8.0
        public var delta = 1e-5
        public init() {}
    }

    public init() {}

    /// The privacy ledger the daemon keeps in its data directory.
    public var ledgerPath: String { dataDirectory + "/" + BudgetGuard.fileName }

    /// Loads and checks a JSON configuration file: every key is optional at any depth and takes
    /// the default above; an unknown key or a value of the wrong type is an error naming the
    /// file, the key path and its line (``StrictJSON``).
    public static func load(path: String) throws(TallyError) -> Self {
        let config = try StrictJSON.load(Self.self, path: path, defaults: Self())
        do { try config.validate() } catch {
            throw TallyError(error.code, "configuration file \(path): \(error.message)", cause: error.cause)
        }
        return config
    }

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
        guard (64 << 10...1 << 30).contains(maxMessageBytes) else {
            throw fail("maxMessageBytes must be in 65536...1073741824, got \(maxMessageBytes)")
        }
        guard data.organizations >= 1, (0..<data.organizations).contains(data.index) else {
            throw fail("data.index must be in 0..<data.organizations")
        }
        guard data.alpha > 0, data.alpha.isFinite else { throw fail("data.alpha must be positive") }
        guard ["logistic-regression", Self.externalTrainerName, "noop"].contains(trainer) else {
            throw fail("trainer must be logistic-regression, external or noop, got \(trainer)")
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
