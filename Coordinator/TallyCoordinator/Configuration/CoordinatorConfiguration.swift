import Foundation
import TallyCore
import TallyLedger
import TallyModel
import TallyRound
import TallySecAgg
import TallyStatus
import TallyWire

/// Everything the coordinator service needs, with embedded defaults: SQLite and local files under
/// a data directory, listening on loopback. Read from a JSON file with ``load(path:)``; absent keys,
/// at any depth, take the defaults declared here and in the nested types.
public struct CoordinatorConfiguration: Sendable, Codable, ConfigurationFile {
    /// Where the database, the registry and the metrics file live.
    public var dataDirectory = "tally-data/coordinator"
    public var host = "127.0.0.1"
    public var port = 7443
    /// The coordinator's certificate, key and the federation CA.
    public var tls = TLSFiles(directory: "tally-data/pki/coordinator")
    /// The CRL written by `certs/revoke-certificate.sh`; re-read at every connection.
    public var revocationList: String?
    /// Participant ids allowed to join; nil admits any participant the CA certified.
    public var allowedParticipants: [UInt32]?
    /// The organizations' names behind participant ids (`provision` writes them), shown by the
    /// status page and API; ids stay numbers in certificates, on the wire and in the ledgers.
    public var participantNames: [ParticipantName] = []
    /// Fewest connected participants with which a round starts (n_min).
    public var minParticipants = 3
    /// Largest cohort per round.
    public var maxCohort = 100
    /// Rounds to run before stopping; 0 runs until stopped.
    public var rounds = 20
    /// c: colluding participants (or coordinator sybils) every round tolerates. Thresholds are
    /// set to t = ⌊(m + c)/2⌋ + 1 and noise shares sized for t − c honest ones; participants
    /// decline plans whose c is below their own minimum.
    public var collusionMargin = 1
    /// Participants hold their masked input until this long after the plan arrives, so when it
    /// arrives does not reveal how long they trained (their data size). Set it above the slowest
    /// organization's training time; 0 sends as soon as training ends.
    public var maskedInputDelaySeconds = 1.0
    /// Deadline of each protocol stage; who has not answered by then has dropped.
    public var stageTimeoutSeconds = 30.0
    /// Pause between rounds, and before retrying after an aborted round.
    public var roundIntervalSeconds = 0.2
    /// Bits per quantized update coordinate (b); slots are b + ⌈log2 n⌉ bits.
    public var valueBits = 16
    /// C: every participant clips its update to this ℓ2 norm (the DP sensitivity, model units).
    public var clipNorm = 0.5
    /// Noise: a target (ε, δ) or an explicit noise multiplier. DP is on by default.
    public var privacy = PrivacySettings()
    /// What the federation trains (a built-in model and its sizes, or an external one).
    public var model = ModelSettings()
    /// Local training every participant runs.
    public var training = TrainingSettings()
    /// The server step applied to each round's decoded mean update: FedAvg (η = 1, the default),
    /// FedAvgM, FedAdagrad, FedAdam or FedYogi with their hyperparameters. Post-processing of the
    /// noisy mean: no privacy cost.
    public var serverOptimizer = ServerOptimizer.Settings()
    /// Federated evaluation of every version and the publish gate.
    public var validation = ValidationSettings()
    /// Fashion-MNIST directory whose test split scores each new version; nil skips evaluation.
    public var evaluationData: String? = FashionMNIST.defaultDirectory
    /// The coordinator's own evaluation file in any format a site may use (CSV, NumPy,
    /// safetensors, IDX: ``DataSourceConfiguration``); when set it replaces `evaluationData`.
    public var evaluationSource: DataSourceConfiguration?
    /// What `evaluationSource` holds: feature names (needed for CSV) or a count, and the classes.
    /// nil: Fashion-MNIST's.
    public var evaluationSchema: DataSchema?
    /// Expected dropout and collusion rates, for choosing the neighbour graph at scale.
    public var dropoutRate = 0.1
    public var corruptionRate = 0.05
    /// The live status server: `/metrics`, `/api/status`, the status page and operator actions.
    public var status = StatusSettings(port: 7480)
    /// Largest gRPC message accepted, in bytes.
    public var maxMessageBytes = 8 << 20
    /// Benchmark-only: participants send unmasked inputs. Never set in a real federation.
    public var insecureDisableMasking = false
    /// Benchmark-only: the model is a plain vector of this many parameters (participants run
    /// the no-op trainer); nil trains `model`.
    public var syntheticDimension: Int?

    public init() {}

    /// The federation's first model: the benchmark's flat vector of zeros, or `model`'s.
    public func initialModel() throws(TallyError) -> ModelState {
        if let d = syntheticDimension { return try ModelState.zeros(.flat(dimension: d)) }
        return try model.initialModel()
    }

    public func validate() throws(TallyError) {
        guard (1...65535).contains(port) || port == 0 else { throw TallyError(.invalidArgument, "port must be 0...65535") }
        if case .name = HostAddress(host) {
            throw TallyError(
                .invalidArgument,
                "host must be the IPv4 or IPv6 address to listen on, such as 127.0.0.1, 0.0.0.0, ::1 or ::, not \"\(host)\" (participants may reach the coordinator by a DNS name)"
            )
        }
        guard minParticipants >= 2, maxCohort >= minParticipants else {
            throw TallyError(.invalidArgument, "need 2 ≤ minParticipants ≤ maxCohort (got \(minParticipants), \(maxCohort))")
        }
        guard DistributedDPConfiguration.valueBitsRange.contains(valueBits) else {
            throw TallyError(.invalidArgument, "valueBits must be \(DistributedDPConfiguration.valueBitsRange), got \(valueBits)")
        }
        guard clipNorm > 0, clipNorm.isFinite, stageTimeoutSeconds > 0 else {
            throw TallyError(.invalidArgument, "clipNorm and stageTimeoutSeconds must be positive")
        }
        // A clip this large only overflows the encoding (a round aborted after the sites were charged).
        guard clipNorm <= 1e6 else { throw TallyError(.invalidArgument, "clipNorm must be at most 1e6, got \(clipNorm)") }
        guard privacy.delta > 0, privacy.delta < 1 else { throw TallyError(.invalidArgument, "privacy.delta must be in (0, 1)") }
        if try privacy.recordSampling() != nil, valueBits < Self.minimumRecordValueBits {
            throw TallyError(
                .invalidArgument,
                "privacy.unit \"record\" sums many records per organization: valueBits must be at least \(Self.minimumRecordValueBits) (30 recommended), got \(valueBits)"
            )
        }
        guard rounds >= 0 else { throw TallyError(.invalidArgument, "rounds must be ≥ 0") }
        guard collusionMargin >= 0,
            SecAggConfiguration.minimumThreshold(neighbourhood: minParticipants, collusionMargin: collusionMargin) <= minParticipants
        else {
            throw TallyError(
                .invalidArgument,
                "collusionMargin must be ≥ 0 and leave a threshold for the smallest cohort: \(minParticipants) participants cannot tolerate \(collusionMargin) colluders (t > (n + c)/2 and t ≤ n)"
            )
        }
        // Every number the round turns into a duration, a count or a wire field, bounded so that a
        // typo is an error naming the key, not a trap inside a round.
        guard stageTimeoutSeconds <= 86_400 else {
            throw TallyError(.invalidArgument, "stageTimeoutSeconds must be at most 86400 (a day), got \(stageTimeoutSeconds)")
        }
        guard roundIntervalSeconds >= 0, roundIntervalSeconds <= 86_400 else {
            throw TallyError(.invalidArgument, "roundIntervalSeconds must be in [0, 86400], got \(roundIntervalSeconds)")
        }
        if let d = syntheticDimension, !(1...(1 << 28)).contains(d) {
            throw TallyError(.invalidArgument, "syntheticDimension must be in 1...\(1 << 28), got \(d)")
        }
        try training.validate()
        try model.validate()
        if let evaluationSource {
            do { try evaluationSource.validate() } catch { throw TallyError(error.code, "evaluationSource: \(error.message)") }
            if evaluationSource.kind == .csv, evaluationSchema?.featureNames == nil {
                throw TallyError(
                    .invalidArgument,
                    "evaluationSchema with featureNames is needed for a csv evaluationSource (its columns are matched by name)")
            }
        }
        try serverOptimizer.validate()
        try validation.validate()
        guard maskedInputDelaySeconds >= 0, maskedInputDelaySeconds < stageTimeoutSeconds else {
            throw TallyError(.invalidArgument, "maskedInputDelaySeconds must be in [0, stageTimeoutSeconds)")
        }
        // Every round message must fit (a smaller limit releases no round at all).
        guard (64 << 10...1 << 30).contains(maxMessageBytes) else {
            throw TallyError(.invalidArgument, "maxMessageBytes must be in 65536...1073741824, got \(maxMessageBytes)")
        }
        try tls.validate()
        try status.validate(key: "status", allowsOperatorTLS: true)
        for entry in participantNames where entry.id == 0 || !PeerRole.isValidOperatorName(entry.name) {
            throw TallyError(
                .invalidArgument,
                "participantNames: {\"id\": \(entry.id), \"name\": \"\(entry.name)\"} needs an id ≥ 1 and a name of 1-64 of a-z, 0-9, '.', '-', '_'"
            )
        }
        guard Set(participantNames.map(\.id)).count == participantNames.count else {
            throw TallyError(.invalidArgument, "participantNames lists an id twice")
        }
    }
}

extension CoordinatorConfiguration {
    /// The noise multiplier every round uses: the explicit one, or the smallest z for which every
    /// participant's ledger, after `rounds` rounds of cohorts between `minParticipants` and
    /// `maxCohort`, stays within the target (``RoundPolicy/calibratedNoiseMultiplier(targetEpsilon:delta:rounds:cohortSizes:parameterCount:)``:
    /// the same RDP bound of the distributed discrete Gaussian that budgets enforce and reports
    /// print). No δ is set aside: noise is added unclamped, so no round has a clamping probability.
    ///
    /// `spent` is the coordinator's ledger so far and `remainingRounds` the rounds still to run:
    /// after a restart the target covers both, it is not started afresh.
    ///
    /// `firstRoundVectorLength`: the first remaining round measures the standardization's
    /// moments, a vector of that length (``ModelState/roundVectorLength``).
    public func noiseMultiplier(
        parameterCount: Int, spent: [LedgerEntry] = [], remainingRounds: Int? = nil, firstRoundVectorLength: Int? = nil
    ) throws(TallyError) -> Double {
        if let z = privacy.noiseMultiplier {
            guard z.isFinite, z >= 0 else { throw TallyError(.invalidArgument, "privacy.noiseMultiplier must be ≥ 0, got \(z)") }
            return z
        }
        guard let target = privacy.targetEpsilon else {
            throw TallyError(.invalidArgument, "privacy needs targetEpsilon or noiseMultiplier")
        }
        return try roundPolicy(noiseMultiplier: 0).calibratedNoiseMultiplier(
            targetEpsilon: target, delta: privacy.delta, rounds: remainingRounds ?? rounds, cohortSizes: [minParticipants, maxCohort],
            parameterCount: parameterCount, spent: spent, firstRoundVectorLength: firstRoundVectorLength
        ).noiseMultiplier
    }

    /// What this configuration fixes in every round plan, with the noise multiplier resolved at start-up.
    public func roundPolicy(noiseMultiplier: Double) throws(TallyError) -> RoundPolicy {
        RoundPolicy(
            collusionMargin: collusionMargin, valueBits: valueBits, clipNorm: clipNorm, noiseMultiplier: noiseMultiplier,
            stageTimeoutMilliseconds: UInt64(stageTimeoutSeconds * 1000),
            maskedInputDelayMilliseconds: UInt64(maskedInputDelaySeconds * 1000),
            dropoutRate: dropoutRate, corruptionRate: corruptionRate, training: training,
            unmasked: insecureDisableMasking, records: try privacy.recordSampling())
    }

    /// The examples every new version is scored on, as the sites' data reaches the model:
    /// `evaluationSource` (all of it) or Fashion-MNIST's test split from `evaluationData`, checked
    /// against the model's inputs and classes and put through its feature transform. nil when
    /// evaluation is off.
    public func evaluationSet() throws(TallyError) -> Dataset? {
        guard syntheticDimension == nil else { return nil }
        let raw: Dataset
        if let evaluationSource {
            var source = evaluationSource
            source.heldOutFraction = 0
            let schema = evaluationSchema ?? .fashionMNIST
            do { raw = try source.load(schema: schema).training } catch {
                throw TallyError(error.code, "evaluationSource \(source.summary): \(error.message)", cause: error.cause)
            }
        } else if let directory = evaluationData {
            raw = try FashionMNIST.loadSplit(directory: directory, prefix: "t10k")
        } else {
            return nil
        }
        guard raw.featureCount == model.featureCount, raw.classCount == model.classCount else {
            throw TallyError(
                .dataSchemaMismatch,
                "the evaluation data has \(raw.featureCount) features and \(raw.classCount) classes; model.featureCount and model.classCount say \(model.featureCount) and \(model.classCount)"
            )
        }
        // Scored as the sites train: through the task's feature transform.
        return try model.featureTransform.apply(toSquareImages: raw)
    }

    /// What the sites send with every round on a built-in model when federated evaluation is
    /// on: the evaluation part's settings, written into each version's manifest. nil otherwise.
    public func federatedEvaluation(for model: ModelState) -> FederatedEvaluation? {
        guard validation.federatedEvaluation, syntheticDimension == nil, model.classCount != nil else { return nil }
        return FederatedEvaluation(organizationShare: validation.organizationShare)
    }

    /// Fewest value bits a record-level federation accepts: an organization's sum of up to
    /// B + 6√B clipped gradients must fit with precision to spare.
    public static let minimumRecordValueBits = 24
}

/// One organization's name for its participant id.
public struct ParticipantName: Sendable, Codable, Hashable {
    public var id: UInt32
    public var name: String

    public init(id: UInt32, name: String) {
        self.id = id
        self.name = name
    }
}
