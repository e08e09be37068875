public import TallyCore
public import TallyModel
public import TallySecAgg

/// Everything both sides of a round must agree on, as the coordinator plans it and every
/// participant receives it. Protobuf is only its transport (`Tally_V1_RoundPlan` in TallyWire);
/// what is hashed, checked and derived from is this value.
///
/// A plan is built in one place (``RoundAgreement/plan(roundID:members:model:policy:)``) and checked in one
/// place (``RoundAgreement/init(parameters:parameterCount:)``), which both sides run: the secure
/// aggregation configuration, the distributed-DP encoding and the ledger charge all derive from it.
public struct RoundParameters: Sendable, Hashable {
    public var roundID: UInt64
    /// SHA-256 of the model's safetensors blob the round trains from (its signed manifest travels
    /// beside the plan).
    public var modelHash: [UInt8]
    /// Local training, with this round's seed.
    public var training: TrainingSettings
    /// The cohort in plan order, and each member's certificate (PEM) in the same order: every
    /// participant verifies them against the federation CA, so the coordinator cannot substitute keys.
    public var cohort: [ParticipantID]
    public var cohortCertificates: [String]
    /// t: shares needed to reconstruct a secret, and the fewest inputs a sum may hold.
    public var threshold: Int
    /// c: colluding cohort members the round tolerates (2t > m + c; noise for t − c honest shares).
    public var collusionMargin: Int
    /// b: bits per quantized coordinate.
    public var valueBits: Int
    /// Bits per packed slot: b plus headroom for the cohort's sum.
    public var slotWidth: Int
    /// Packed coordinates (the parameter count padded for the rotation).
    public var dimension: Int
    /// Who masks and shares with whom.
    public var graph: NeighbourGraph.Kind
    /// C: the ℓ2 norm every update is clipped to.
    public var clipNorm: Double
    /// z: noise standard deviation over C (0: no noise, benchmark only).
    public var noiseMultiplier: Double
    /// Deadline of each collecting stage.
    public var stageTimeoutMilliseconds: UInt64
    /// Masked inputs leave no earlier than this after the plan arrived, whatever the training time.
    public var maskedInputDelayMilliseconds: UInt64
    /// Size of the zstd-compressed model that follows the plan (bounds its reassembly).
    public var compressedModelBytes: Int
    /// Benchmark only: inputs are sent without masking and no key exchange takes place.
    public var unmasked: Bool
    /// Record-level rounds: the records' sampling rate q and the expected batch B; nil for the
    /// organization unit.
    public var records: DistributedDPConfiguration.RecordSampling?

    public init(
        roundID: UInt64, modelHash: [UInt8], training: TrainingSettings, cohort: [ParticipantID],
        cohortCertificates: [String], threshold: Int, collusionMargin: Int, valueBits: Int, slotWidth: Int,
        dimension: Int, graph: NeighbourGraph.Kind, clipNorm: Double, noiseMultiplier: Double,
        stageTimeoutMilliseconds: UInt64, maskedInputDelayMilliseconds: UInt64, compressedModelBytes: Int,
        unmasked: Bool, records: DistributedDPConfiguration.RecordSampling? = nil
    ) {
        self.records = records
        self.roundID = roundID
        self.modelHash = modelHash
        self.training = training
        self.cohort = cohort
        self.cohortCertificates = cohortCertificates
        self.threshold = threshold
        self.collusionMargin = collusionMargin
        self.valueBits = valueBits
        self.slotWidth = slotWidth
        self.dimension = dimension
        self.graph = graph
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.stageTimeoutMilliseconds = stageTimeoutMilliseconds
        self.maskedInputDelayMilliseconds = maskedInputDelayMilliseconds
        self.compressedModelBytes = compressedModelBytes
        self.unmasked = unmasked
    }

    /// Largest certificate a plan may carry per member.
    public static let maxCertificateBytes = 16 << 10
    /// Longest stage deadline a plan may set (a day).
    public static let maxStageTimeoutMilliseconds: UInt64 = 86_400_000
    /// Largest compressed model a plan may announce.
    public static let maxCompressedModelBytes = 512 << 20

    /// SHA-256 over the canonical encoding (domain-separated, fixed field order, big-endian): the
    /// plan digest bound into the secure aggregation's session. Independent of protobuf's
    /// encoding, so every implementation computes the same digest from the same fields.
    public var digest: [UInt8] {
        var w = WireWriter(capacity: 512 + cohortCertificates.reduce(0) { $0 + $1.utf8.count })
        w.write(bytes: Array("tally-round-plan/v1".utf8))
        w.write(roundID)
        w.write(bytes: modelHash)
        w.write(UInt64(training.localEpochs))
        w.write(UInt64(training.batchSize))
        w.write(training.learningRate.bitPattern)
        w.write(training.seed)
        w.write(participants: cohort)
        w.write(UInt32(cohortCertificates.count))
        for pem in cohortCertificates { w.write(bytes: Array(pem.utf8)) }
        w.write(UInt64(threshold))
        w.write(UInt64(collusionMargin))
        w.write(UInt64(valueBits))
        w.write(UInt64(slotWidth))
        w.write(UInt64(dimension))
        switch graph {
        case .complete: w.write(UInt64(0))
        case .harary(let k): w.write(UInt64(k))
        }
        w.write(clipNorm.bitPattern)
        w.write(noiseMultiplier.bitPattern)
        w.write(stageTimeoutMilliseconds)
        w.write(maskedInputDelayMilliseconds)
        w.write(UInt64(compressedModelBytes))
        w.write(UInt8(unmasked ? 1 : 0))
        // Record-level plans only (organization-level digests are unchanged): a tag, q, B.
        if let records {
            w.write(UInt8(1))
            w.write(records.samplingRate.bitPattern)
            w.write(UInt64(records.expectedBatchSize))
        }
        return SHA256Digest.hash(w.bytes)
    }
}
