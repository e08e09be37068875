import Foundation
import TallyCore
import TallySecAgg
import TallyWire

/// One organization's daemon settings, from a JSON file; absent keys take the defaults.
public struct ParticipantConfiguration: Sendable, Codable {
    public var coordinatorHost = "127.0.0.1"
    public var coordinatorPort = 7443
    /// This organization's certificate and key, and the federation CA.
    public var tls = TLSFiles(directory: "tally-data/pki/participant-1")
    /// Local state: the privacy ledger of the rounds this organization contributed to.
    public var dataDirectory = "tally-data/participant-1"
    public var data = DataSource()
    /// `logistic-regression` (trains on `data`) or `noop` (benchmark: sends a zero update of the
    /// model's size without loading any data).
    public var trainer = "logistic-regression"
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ParticipantConfiguration()
        coordinatorHost = try c.decodeIfPresent(String.self, forKey: .coordinatorHost) ?? d.coordinatorHost
        coordinatorPort = try c.decodeIfPresent(Int.self, forKey: .coordinatorPort) ?? d.coordinatorPort
        tls = try c.decodeIfPresent(TLSFiles.self, forKey: .tls) ?? d.tls
        dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory) ?? d.dataDirectory
        data = try c.decodeIfPresent(DataSource.self, forKey: .data) ?? d.data
        trainer = try c.decodeIfPresent(String.self, forKey: .trainer) ?? d.trainer
        privacyBudget = try c.decodeIfPresent(PrivacyBudget.self, forKey: .privacyBudget) ?? d.privacyBudget
        roundRequirements = try c.decodeIfPresent(RoundRequirements.self, forKey: .roundRequirements) ?? d.roundRequirements
        reconnectInitialSeconds = try c.decodeIfPresent(Double.self, forKey: .reconnectInitialSeconds) ?? d.reconnectInitialSeconds
        reconnectMaxSeconds = try c.decodeIfPresent(Double.self, forKey: .reconnectMaxSeconds) ?? d.reconnectMaxSeconds
        maxMessageBytes = try c.decodeIfPresent(Int.self, forKey: .maxMessageBytes) ?? d.maxMessageBytes
        allowInsecureBenchmarkRounds = try c.decodeIfPresent(Bool.self, forKey: .allowInsecureBenchmarkRounds) ?? d.allowInsecureBenchmarkRounds
    }

    public static func load(path: String) throws(TallyError) -> Self {
        let bytes = Data(try BoundedFile.read(path, maxBytes: 1 << 20, what: "configuration"))
        let config: Self
        do { config = try JSONDecoder().decode(Self.self, from: bytes) } catch {
            throw TallyError(.invalidArgument, "configuration file \(path) is not valid: \(error)")
        }
        guard config.data.organizations >= 1, (0..<config.data.organizations).contains(config.data.index) else {
            throw TallyError(.invalidArgument, "data.index must be in 0..<data.organizations")
        }
        guard config.data.alpha > 0 else { throw TallyError(.invalidArgument, "data.alpha must be positive") }
        guard ["logistic-regression", "noop"].contains(config.trainer) else {
            throw TallyError(.invalidArgument, "trainer must be logistic-regression or noop, got \(config.trainer)")
        }
        try config.tls.validate()
        return config
    }
}
