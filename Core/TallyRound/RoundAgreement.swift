public import TallyCore
public import TallyLedger
public import TallyModel
public import TallySecAgg

/// The coordinator's settings that shape every plan: what it chooses, as opposed to what follows
/// from the cohort and the model.
public struct RoundPolicy: Sendable, Hashable {
    public var collusionMargin: Int
    public var valueBits: Int
    public var clipNorm: Double
    public var noiseMultiplier: Double
    public var stageTimeoutMilliseconds: UInt64
    public var maskedInputDelayMilliseconds: UInt64
    /// Expected dropout and corruption rates: from 200 members on, they choose the SecAgg+ graph.
    public var dropoutRate: Double
    public var corruptionRate: Double
    /// Local training; the round id is added to its seed.
    public var training: TrainingSettings
    /// Benchmark only: no masking.
    public var unmasked: Bool
    /// Record-level rounds (each participant sends its sampled records' clipped gradient sum);
    /// nil for the organization unit.
    public var records: DistributedDPConfiguration.RecordSampling?

    public init(
        collusionMargin: Int, valueBits: Int, clipNorm: Double, noiseMultiplier: Double,
        stageTimeoutMilliseconds: UInt64, maskedInputDelayMilliseconds: UInt64, dropoutRate: Double,
        corruptionRate: Double, training: TrainingSettings, unmasked: Bool,
        records: DistributedDPConfiguration.RecordSampling? = nil
    ) {
        self.records = records
        self.collusionMargin = collusionMargin
        self.valueBits = valueBits
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.stageTimeoutMilliseconds = stageTimeoutMilliseconds
        self.maskedInputDelayMilliseconds = maskedInputDelayMilliseconds
        self.dropoutRate = dropoutRate
        self.corruptionRate = corruptionRate
        self.training = training
        self.unmasked = unmasked
    }

    /// From this many members on, a round masks with a SecAgg+ neighbour graph instead of the
    /// complete graph.
    public static let sparseGraphCohort = 200
}

/// A round plan that has been checked, with everything derived from it: the secure-aggregation
/// configuration, the distributed-DP encoding, and the privacy charges. The coordinator builds
/// one with ``plan(roundID:members:model:policy:)``; a participant checks what it received with
/// ``init(parameters:parameterCount:)``. Both run the same checks and derivations, so they agree
/// by construction.
public struct RoundAgreement: Sendable {
    public let parameters: RoundParameters
    /// ``RoundParameters/digest``, bound into the session.
    public let digest: [UInt8]
    public let secAgg: SecAggConfiguration
    public let privacy: DistributedDPConfiguration

    /// Checks `parameters` against a model of `parameterCount` parameters and derives the rest.
    public init(parameters p: RoundParameters, parameterCount: Int) throws(TallyError) {
        let n = p.cohort.count
        guard n >= 2, n <= SecAggConfiguration.maxCohort, p.cohortCertificates.count == n else {
            throw TallyError(.malformedMessage, "round plan has \(n) cohort members and \(p.cohortCertificates.count) certificates")
        }
        guard p.cohortCertificates.allSatisfy({ $0.utf8.count <= RoundParameters.maxCertificateBytes }) else {
            throw TallyError(
                .sizeLimitExceeded, "round plan carries a cohort certificate over \(RoundParameters.maxCertificateBytes >> 10) KiB")
        }
        guard p.modelHash.count == 32 else { throw TallyError(.malformedMessage, "round plan's model hash is not 32 bytes") }
        guard DistributedDPConfiguration.valueBitsRange.contains(p.valueBits),
            p.slotWidth == SlotLayout.headroomWidth(valueBits: p.valueBits, summands: n)
        else {
            throw TallyError(
                .invalidArgument,
                "round plan's slot width \(p.slotWidth) does not give \(p.valueBits)-bit values headroom for \(n) summands")
        }
        guard (1...RoundParameters.maxStageTimeoutMilliseconds).contains(p.stageTimeoutMilliseconds),
            p.maskedInputDelayMilliseconds < p.stageTimeoutMilliseconds
        else {
            throw TallyError(
                .invalidArgument,
                "round plan's stage deadline (\(p.stageTimeoutMilliseconds) ms) must be in 1...\(RoundParameters.maxStageTimeoutMilliseconds) ms and above its masked-input delay (\(p.maskedInputDelayMilliseconds) ms)"
            )
        }
        guard (0...RoundParameters.maxCompressedModelBytes).contains(p.compressedModelBytes) else {
            throw TallyError(
                .sizeLimitExceeded,
                "round plan announces a \(p.compressedModelBytes)-byte model; the limit is \(RoundParameters.maxCompressedModelBytes)")
        }
        try p.training.validate(key: "round plan training")
        // The DP encoding follows from the plan's fields; both sides derive the same one.
        let privacy = try DistributedDPConfiguration(
            parameterCount: parameterCount, clipNorm: p.clipNorm, noiseMultiplier: p.noiseMultiplier,
            valueBits: p.valueBits, threshold: p.threshold, collusionMargin: p.collusionMargin, cohortSize: n,
            records: p.records)
        guard p.dimension == privacy.dimension else {
            throw TallyError(.sizeMismatch, "round plan dimension \(p.dimension) does not fit the model's encoding (\(privacy.dimension))")
        }
        let digest = p.digest
        // Checks the cohort (sorted, distinct), the graph and 2t > m + c.
        self.secAgg = try SecAggConfiguration(
            roundID: p.roundID, cohort: p.cohort, threshold: p.threshold, collusionMargin: p.collusionMargin,
            layout: try SlotLayout(slotWidth: p.slotWidth, count: p.dimension), graph: p.graph, planDigest: digest)
        guard secAgg.cohort == p.cohort else { throw TallyError(.malformedMessage, "round plan's cohort is not sorted") }
        self.parameters = p
        self.digest = digest
        self.privacy = privacy
    }

    /// The coordinator's plan for `members` (id and certificate, any order): the threshold
    /// t = ⌊(m + c)/2⌋ + 1, the SecAgg+ graph from ``RoundPolicy/sparseGraphCohort`` members on,
    /// the slot width for the cohort's sum, and the encoding's dimension.
    public static func plan(
        roundID: UInt64, members: [(id: ParticipantID, certificate: String)],
        model: (hash: [UInt8], parameterCount: Int, compressedBytes: Int),
        policy: RoundPolicy
    ) throws(TallyError) -> RoundAgreement {
        let members = members.sorted { $0.id < $1.id }
        let n = members.count
        guard n >= 2 else { throw TallyError(.belowThreshold, "a round needs at least 2 members, got \(n)") }
        let c = policy.collusionMargin
        var graph = NeighbourGraph.Kind.complete
        var threshold = SecAggConfiguration.minimumThreshold(neighbourhood: n, collusionMargin: c)
        if n >= RoundPolicy.sparseGraphCohort {
            let choice = try SecAggPlusParameters.choose(
                cohortSize: n, dropoutRate: policy.dropoutRate, corruptionRate: policy.corruptionRate)
            let m = choice.graph.neighbourhoodSize(cohortSize: n)
            (graph, threshold) = (
                choice.graph, max(choice.threshold, SecAggConfiguration.minimumThreshold(neighbourhood: m, collusionMargin: c))
            )
        }
        let dimension = DistributedDPConfiguration.paddedDimension(
            parameterCount: model.parameterCount, rotate: policy.records == nil)
        var training = policy.training
        training.seed = training.seed &+ roundID
        let parameters = RoundParameters(
            roundID: roundID, modelHash: model.hash, training: training, cohort: members.map(\.id),
            cohortCertificates: members.map(\.certificate), threshold: threshold, collusionMargin: c,
            valueBits: policy.valueBits, slotWidth: SlotLayout.headroomWidth(valueBits: policy.valueBits, summands: n),
            dimension: dimension, graph: graph, clipNorm: policy.clipNorm, noiseMultiplier: policy.noiseMultiplier,
            stageTimeoutMilliseconds: policy.stageTimeoutMilliseconds,
            maskedInputDelayMilliseconds: policy.unmasked ? 0 : policy.maskedInputDelayMilliseconds,
            compressedModelBytes: model.compressedBytes, unmasked: policy.unmasked, records: policy.records)
        return try RoundAgreement(parameters: parameters, parameterCount: model.parameterCount)
    }

    public var layout: SlotLayout { secAgg.layout }

    /// Whether the plan is a benchmark round a real federation must refuse: without masking, or
    /// without noise.
    public var isBenchmarkOnly: Bool { parameters.unmasked || privacy.noise == nil }

    // MARK: Privacy charges

    /// What one party is charged for a round: whose inputs the released sum holds and how many
    /// noise shares are proven to be in it.
    public struct Charge: Sendable, Hashable {
        public let participants: [UInt32]
        public let noiseShares: Int
    }

    /// The coordinator's charge for a sum of `contributors`: up to c of them may be colluders that
    /// added no noise, so survivors − c shares are proven present; without masking each input was
    /// seen on its own (no shares protect it).
    public func coordinatorCharge(contributors: [ParticipantID]) -> Charge {
        Charge(
            participants: contributors.map(\.rawValue).sorted(),
            noiseShares: parameters.unmasked ? 0 : contributors.count - parameters.collusionMargin)
    }

    /// A participant's charge for its own input, at the plan's guarantee: t − c honest shares,
    /// whoever else survives (ε = ∞ without masking).
    public func participantCharge(_ me: ParticipantID) -> Charge {
        Charge(participants: [me.rawValue], noiseShares: parameters.unmasked ? 0 : privacy.guaranteedShares)
    }

    /// The ledger entry for `charge`: against the version the sum produced, or against the base
    /// model (no version) when nothing was published.
    public func ledgerEntry(_ charge: Charge, modelVersion: Int64?, modelHash: String, recordedAt: Double) -> LedgerEntry {
        LedgerEntry(
            roundID: parameters.roundID, modelVersion: modelVersion, modelHash: modelHash,
            participants: charge.participants, noiseShares: charge.noiseShares, privacy: privacy,
            recordedAt: recordedAt)
    }
}
