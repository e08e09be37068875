public import TallyCore

/// Everything every party must agree on before a round starts. Its canonical encoding is hashed
/// into the session id and signed over in key advertisements, so a participant can never be
/// led to use keys or shares from a different round or a different plan.
public struct SecAggConfiguration: Sendable, Hashable {
    /// Monotonic round number chosen by the coordinator.
    public var roundID: UInt64
    /// The cohort, sorted and without duplicates. A participant's Shamir evaluation point is
    /// its index in this list plus one.
    public let cohort: [ParticipantID]
    /// Shares needed to reconstruct a secret (per neighbourhood); also the fewest participants
    /// with which a stage may proceed.
    public var threshold: Int
    /// c: how many colluding cohort members (sybils of the coordinator, or organizations working
    /// with it) the round tolerates. The threshold must satisfy 2t > m + c (m = neighbourhood
    /// size), so two groups shown different survivor lists cannot both reach t signatures even
    /// with the colluders signing both; any unmasked sum then holds at least t − c honest inputs.
    public var collusionMargin: Int
    /// Slot width and dimension of the packed input vectors.
    public var layout: SlotLayout
    /// Who masks with whom and shares secrets with whom.
    public var graph: NeighbourGraph.Kind
    /// SHA-256 of the outer round plan (model version, training configuration, DP parameters),
    /// binding the secure aggregation to exactly that plan. 32 bytes.
    public var planDigest: [UInt8]

    public static let maxCohort = 1 << 16

    public init(
        roundID: UInt64, cohort: [ParticipantID], threshold: Int, collusionMargin: Int = 0, layout: SlotLayout,
        graph: NeighbourGraph.Kind = .complete, planDigest: [UInt8] = [UInt8](repeating: 0, count: 32)
    ) throws(TallyError) {
        let sorted = cohort.sorted()
        guard sorted.count >= 2, sorted.count <= Self.maxCohort else {
            throw TallyError(.invalidArgument, "a cohort has 2...\(Self.maxCohort) participants, got \(sorted.count)")
        }
        guard Set(sorted).count == sorted.count else { throw TallyError(.invalidArgument, "the cohort lists a participant twice") }
        guard planDigest.count == 32 else { throw TallyError(.invalidArgument, "the plan digest is 32 bytes") }
        let neighbourhood = graph.neighbourhoodSize(cohortSize: sorted.count)
        try Self.checkThreshold(threshold, collusionMargin: collusionMargin, neighbourhood: neighbourhood)
        self.roundID = roundID
        self.cohort = sorted
        self.threshold = threshold
        self.collusionMargin = collusionMargin
        self.layout = layout
        self.graph = graph
        self.planDigest = planDigest
    }

    /// The smallest threshold that tolerates `collusionMargin` colluders in neighbourhoods of m:
    /// ⌊(m + c)/2⌋ + 1.
    public static func minimumThreshold(neighbourhood m: Int, collusionMargin c: Int) -> Int { (m + c) / 2 + 1 }

    /// 2t > m + c and t ≤ m: two sets of t signers over different lists would need more than m
    /// members even with c colluders in both, and the cohort can still reach t. Together they
    /// imply t > c: every unmasked sum holds at least one honest input and noise share.
    public static func checkThreshold(_ t: Int, collusionMargin c: Int, neighbourhood m: Int) throws(TallyError) {
        guard c >= 0 else { throw TallyError(.invalidArgument, "the collusion margin c must be ≥ 0, got \(c)") }
        let lowest = minimumThreshold(neighbourhood: m, collusionMargin: c)
        guard lowest <= m else {
            throw TallyError(
                .invalidArgument,
                "a neighbourhood of \(m) cannot tolerate \(c) colluders: it needs t > (m + c)/2 = \(Double(m + c) / 2) and t ≤ m")
        }
        guard (lowest...m).contains(t) else {
            throw TallyError(
                .invalidArgument,
                "threshold must be in \(lowest)...\(m) for neighbourhoods of \(m) and \(c) tolerated colluders (t > (m + c)/2), got \(t)")
        }
    }

    /// The Shamir evaluation point of `id`, or nil if it is not in the cohort.
    public func shareIndex(of id: ParticipantID) -> UInt32? {
        var low = 0, high = cohort.count
        while low < high {
            let mid = (low + high) / 2
            if cohort[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low < cohort.count && cohort[low] == id ? UInt32(low + 1) : nil
    }

    public func contains(_ id: ParticipantID) -> Bool { shareIndex(of: id) != nil }

    /// Canonical bytes: what is hashed and signed.
    public var canonicalEncoding: [UInt8] {
        var w = WireWriter(capacity: 64 + 4 * cohort.count)
        w.write(fixed: Array(SecAggLabels.protocolVersion.utf8))
        w.write(roundID)
        w.write(UInt32(threshold))
        w.write(UInt32(collusionMargin))
        w.write(UInt32(layout.slotWidth))
        w.write(UInt64(layout.count))
        switch graph {
        case .complete: w.write(UInt8(0)); w.write(UInt32(0))
        case .harary(let degree): w.write(UInt8(1)); w.write(UInt32(degree))
        }
        w.write(fixed: planDigest)
        w.write(participants: cohort)
        return w.bytes
    }

    /// SHA-256 of the canonical encoding.
    public var digest: [UInt8] { SHA256Digest.hash(canonicalEncoding) }
}
