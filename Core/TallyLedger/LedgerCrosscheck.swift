public import TallyCore

/// A participant's own ledger against the coordinator's, round by round: every difference
/// explained, and the ones no honest run produces called out.
///
/// A participant charges itself before its masked input leaves, at the plan's guarantee (t − c
/// honest shares); the coordinator writes one entry per sum it unmasked, naming who is in it.
/// So a participant may hold rounds the coordinator has not (the round aborted before the sum
/// was unmasked) or in which it is not counted (its input was left out after it was sent): both
/// expected, the participant over-counts, which is safe. The reverse — the coordinator counting
/// an organization in a sum its own ledger never charged, or charging it with less noise or
/// other parameters than it agreed to — means one of the ledgers is wrong, or lost records.
public struct LedgerCrosscheck: Sendable {
    public enum Finding: Sendable, Hashable {
        /// Both ledgers have the round and the coordinator counted this participant.
        case counted(round: UInt64)
        /// Charged by the participant; the coordinator's entry for the round does not count it
        /// (its input was left out after it left). Expected.
        case chargedNotCounted(round: UInt64)
        /// Charged by the participant; the coordinator has no entry (the round aborted before the
        /// sum was unmasked). Expected.
        case chargedNotReleased(round: UInt64)
        /// The coordinator counted this participant in a round its own ledger never charged.
        case countedNotCharged(round: UInt64)
        /// The coordinator's entry protects the participant less, or with other parameters, than
        /// the plan the participant was charged for (what differs).
        case disagrees(round: UInt64, what: String)

        public var round: UInt64 {
            switch self {
            case .counted(let r), .chargedNotCounted(let r), .chargedNotReleased(let r), .countedNotCharged(let r): r
            case .disagrees(let r, _): r
            }
        }

        /// Whether an honest run can produce it.
        public var isExpected: Bool {
            switch self {
            case .counted, .chargedNotCounted, .chargedNotReleased: true
            case .countedNotCharged, .disagrees: false
            }
        }

        public var explanation: String {
            switch self {
            case .counted: "counted in the released sum; charged by both"
            case .chargedNotCounted:
                "charged by the participant, not in the coordinator's released sum (its input was left out after it was sent): expected"
            case .chargedNotReleased:
                "charged by the participant; the coordinator released nothing (the round aborted before the sum was unmasked): expected"
            case .countedNotCharged: "UNEXPECTED: the coordinator counted this participant in a sum its own ledger never charged"
            case .disagrees(_, let what): "UNEXPECTED: \(what)"
            }
        }
    }

    public let participant: UInt32
    public let findings: [Finding]

    public var unexpected: [Finding] { findings.filter { !$0.isExpected } }

    /// `own` is one participant's ledger (every entry names only it), `coordinator` the
    /// coordinator's.
    public init(own: [LedgerEntry], coordinator: [LedgerEntry]) throws(TallyError) {
        let ids = Set(own.flatMap(\.participants))
        guard ids.count == 1, own.allSatisfy({ $0.participants.count == 1 }), let id = ids.first else {
            throw TallyError(
                .invalidArgument,
                "the first ledger is not one participant's own ledger: its entries name participants \(ids.sorted()) (a participant's names only itself)"
            )
        }
        participant = id
        // A round has at most one entry on each side; a repeated one is itself a finding.
        let charged = Dictionary(own.map { ($0.roundID, $0) }, uniquingKeysWith: { first, _ in first })
        let released = Dictionary(coordinator.map { ($0.roundID, $0) }, uniquingKeysWith: { first, _ in first })
        var findings: [Finding] = []
        for round in Set(charged.keys).union(released.keys.filter { released[$0]!.participants.contains(id) }).sorted() {
            switch (charged[round], released[round]) {
            case (let mine?, let theirs?):
                guard theirs.participants.contains(id) else {
                    findings.append(.chargedNotCounted(round: round))
                    continue
                }
                if let difference = Self.difference(mine: mine, theirs: theirs) {
                    findings.append(.disagrees(round: round, what: difference))
                } else {
                    findings.append(.counted(round: round))
                }
            case (_?, nil): findings.append(.chargedNotReleased(round: round))
            case (nil, _?): findings.append(.countedNotCharged(round: round))
            case (nil, nil): break
            }
        }
        for (round, count) in Dictionary(grouping: own, by: \.roundID).mapValues(\.count) where count > 1 {
            findings.append(.disagrees(round: round, what: "the participant's ledger holds \(count) entries for this round"))
        }
        for (round, count) in Dictionary(grouping: coordinator, by: \.roundID).mapValues(\.count) where count > 1 {
            findings.append(.disagrees(round: round, what: "the coordinator's ledger holds \(count) entries for this round"))
        }
        self.findings = findings.sorted { $0.round < $1.round }
    }

    /// What makes the coordinator's entry weaker than, or different from, the plan the
    /// participant charged itself for; nil when it is the same plan with at least as much noise.
    static func difference(mine: LedgerEntry, theirs: LedgerEntry) -> String? {
        var differences: [String] = []
        func compare<T: Equatable>(_ name: String, _ a: T, _ b: T) {
            if a != b { differences.append("\(name) \(b) on the coordinator's ledger, \(a) on the participant's") }
        }
        compare("privacy unit", mine.privacyUnit, theirs.privacyUnit)
        compare("sampling rate", mine.samplingRate, theirs.samplingRate)
        compare("clip norm", mine.clipNorm, theirs.clipNorm)
        compare("noise multiplier", mine.noiseMultiplier, theirs.noiseMultiplier)
        compare("share σ²", mine.shareSigmaSquared, theirs.shareSigmaSquared)
        compare("ℓ2 sensitivity", mine.l2Sensitivity, theirs.l2Sensitivity)
        compare("threshold", mine.threshold, theirs.threshold)
        compare("collusion margin", mine.collusionMargin, theirs.collusionMargin)
        compare("cohort size", mine.cohortSize, theirs.cohortSize)
        if theirs.noiseShares < mine.noiseShares {
            differences.append(
                "the coordinator's entry counts \(theirs.noiseShares) noise shares, fewer than the \(mine.noiseShares) the plan guaranteed")
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }
}
