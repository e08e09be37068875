internal import Foundation
public import TallyCore

/// ε per participant and for the federation, from a ledger's entries.
///
/// **Privacy unit**: one participant's whole contribution to a round, or one of its records
/// (entries of the record unit, each with its Poisson rate q); neighbouring datasets are
/// ``neighbouringRelation``. An organization-level entry bounds the record-level loss too, so a
/// ledger holding both is reported for the record. A participant's ε composes only the entries
/// whose `participants` contain it. The federation row composes every entry: the
/// worst case, what a participant that took part in every round would pay.
///
/// **δ**: the δ asked for is the total. Current entries add noise unclamped and have δ_clamp = 0.
/// Entries of the old clamped mechanism (``LedgerEntry/clampedDistributedDiscreteGaussian``)
/// released a function of clamped noised values; it equals the unclamped mechanism's output
/// except on an event of probability ≤ δ_clamp, so the composition is charged by the generic
/// failure-event argument (``FailureEventCharge``): ε is the smallest with
/// δ_mech(ε) + (1 + e^ε)·Σδ_clamp ≤ δ, +∞ if there is none. Rows report Σδ_clamp.
///
/// **ε (RDP)**, the bound budgets are enforced with: for each entry, the Rényi DP of the
/// distributed discrete Gaussian with the shares actually present (Kairouz, Liu, Steinke, ICML
/// 2021, Prop. 14; Poisson subsampling by Zhu–Wang), at every order of
/// `RDPConversion.defaultOrders`, summed over entries (RDP composes additively) and converted to
/// (ε, δ_mech) (Canonne–Kamath–Steinke 2020, Prop. 12). This bound has a proof for the sum that is
/// released.
///
/// **ε (PLD)**, a tight estimate, reported but never enforced: the Gaussian privacy-loss
/// distribution at each entry's effective noise multiplier √(n·σ²)/Δ₂ and sampling rate, composed
/// over entries. Why it is a fair estimate, and when: the sum of n discrete Gaussian shares
/// N_ℤ(0, σ²) is within Rényi divergence τ·d (all orders) of a single discrete Gaussian
/// N_ℤ(0, nσ²) (Kairouz–Liu–Steinke, the τ·d term of Prop. 14), and a discrete Gaussian with σ ≫ 1
/// has, up to terms of order e^{−2π²σ²}, the privacy curve of the continuous Gaussian with the same σ
/// (Canonne–Kamath–Steinke 2020, §2). When τ·d < 10⁻¹² for every composed entry these gaps are far
/// below anything the report prints, so the Gaussian PLD describes the released sum; otherwise
/// (few shares, small σ², e.g. σ² = 0.3) the PLD is not reported (nil) and only the RDP bound applies.
/// Neither gap is added to the PLD ε, which is why it is an estimate and RDP is the guarantee.
///
/// **+∞**: an entry without noise (σ² = 0, no shares, or z = 0) makes ε = +∞ for every series
/// containing it. In JSON (``encodeJSON(_:)``) +∞ is the string `"inf"`; a PLD ε that does not
/// apply, or was not computed for a point of the curve, is `null`.
public struct PrivacyReport: Sendable, Codable {
    public struct Row: Sendable, Codable {
        /// nil: the federation row (the worst case, every entry composed).
        public let participant: UInt32?
        public let rounds: Int
        public let epsilonRDP: Double
        /// nil when the PLD was not asked for, does not apply (τ·d not negligible for some
        /// composed entry) or cannot be computed: ``pldUnavailable`` says which. The RDP bound
        /// applies either way.
        public let epsilonPLD: Double?
        /// Why ``epsilonPLD`` is nil (nil when it is there).
        public let pldUnavailable: String?
        /// The total δ.
        public let delta: Double
        /// Σ δ_clamp of the composed old clamped-mechanism entries, charged within ``delta``.
        public let deltaClamp: Double
        public let budgetEpsilon: Double?
        /// budget ε − ε (RDP), with ε (RDP) taken at the budget's δ.
        public let budgetLeft: Double?

        public init(
            participant: UInt32?, rounds: Int, epsilonRDP: Double, epsilonPLD: Double?, delta: Double,
            deltaClamp: Double, budgetEpsilon: Double?, budgetLeft: Double?, pldUnavailable: String? = nil
        ) {
            self.participant = participant
            self.rounds = rounds
            self.epsilonRDP = epsilonRDP
            self.epsilonPLD = epsilonPLD
            self.pldUnavailable = pldUnavailable
            self.delta = delta
            self.deltaClamp = deltaClamp
            self.budgetEpsilon = budgetEpsilon
            self.budgetLeft = budgetLeft
        }

        /// Encodes nil as `null` (not an absent key), so every row has every column.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(participant, forKey: .participant)
            try c.encode(rounds, forKey: .rounds)
            try c.encode(epsilonRDP, forKey: .epsilonRDP)
            try c.encode(epsilonPLD, forKey: .epsilonPLD)
            try c.encode(pldUnavailable, forKey: .pldUnavailable)
            try c.encode(delta, forKey: .delta)
            try c.encode(deltaClamp, forKey: .deltaClamp)
            try c.encode(budgetEpsilon, forKey: .budgetEpsilon)
            try c.encode(budgetLeft, forKey: .budgetLeft)
        }
    }

    /// Cumulative ε of one series after one of its entries.
    public struct Point: Sendable, Codable {
        public let roundID: UInt64
        /// nil: the federation.
        public let participant: UInt32?
        public let epsilonRDP: Double
        /// nil when the PLD does not apply to the series, or was not computed at this point: each
        /// series gets about ``PrivacyReport/pldCurvePoints`` PLD points, on a 10⁻³ grid (ten times
        /// cheaper, pessimistic like any connect-the-dots grid), and its last point is the row's
        /// value (10⁻⁴ grid).
        public let epsilonPLD: Double?

        public init(roundID: UInt64, participant: UInt32?, epsilonRDP: Double, epsilonPLD: Double?) {
            self.roundID = roundID
            self.participant = participant
            self.epsilonRDP = epsilonRDP
            self.epsilonPLD = epsilonPLD
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(roundID, forKey: .roundID)
            try c.encode(participant, forKey: .participant)
            try c.encode(epsilonRDP, forKey: .epsilonRDP)
            try c.encode(epsilonPLD, forKey: .epsilonPLD)
        }
    }

    /// The neighbouring relation of the organization unit.
    public static let organizationRelation =
        "an organization's update in a round replaced by zero while its noise share stays"
    /// The neighbouring relation of the record unit.
    public static let recordRelation =
        "one record of an organization added or removed (each record Poisson-sampled with its round's q); every noise share stays"

    /// The neighbouring relation the report's ε is for, from the units of its entries: a ledger
    /// with record-level entries is reported for the record (organization-level entries bound it).
    public static func neighbouringRelation(units: [String]) -> String {
        units.contains(LedgerEntry.recordUnit)
            ? recordRelation
                + (units.contains(LedgerEntry.organizationUnit)
                    ? "; organization-level rounds are charged at their ε, which bounds it" : "")
            : organizationRelation
    }

    /// The privacy units of the entries (``PrivacyUnit`` order).
    public let privacyUnits: [String]
    public var neighbouringRelation: String { Self.neighbouringRelation(units: privacyUnits) }

    /// Which accountants a report runs. RDP, the bound budgets are enforced with, is always
    /// computed (budget left is taken from it); `rdp` skips the PLD estimate, `pld` asks that only
    /// the estimate be shown next to the budget.
    public enum Accountants: String, Sendable, Codable, CaseIterable {
        case rdp, pld, both
        public var includesPLD: Bool { self != .rdp }
        public var showsRDP: Bool { self != .pld }
    }

    /// The rows' PLD grid by default (dp_accounting's).
    public static let defaultPLDInterval = 1e-4
    /// The curve's PLD grid (or the rows', if coarser).
    public static let curvePLDInterval = 1e-3

    /// The PLD is reported only when every composed entry's τ·d is below this.
    public static let negligibleTauTimesDimension = 1e-12
    /// About how many PLD points each series of the curve gets.
    public static let pldCurvePoints = 25

    /// The total δ.
    public let delta: Double
    /// The accountants asked for.
    public let accountants: Accountants
    /// The rows' PLD grid spacing.
    public let pldInterval: Double
    /// The federation row first, then one row per participant, ascending.
    public let rows: [Row]
    /// Cumulative ε after each entry, in entry order: the federation's point, then those of the
    /// entry's participants.
    public let curve: [Point]

    /// - Parameters:
    ///   - entries: in ledger order; every entry must pass ``LedgerEntry/validate()``.
    ///   - delta: the total δ, in (0, 1).
    ///   - budget: when given, each row gets budget ε and what is left of it (ε taken at the budget's δ).
    ///   - accountants: whether to compute the PLD estimate too (the RDP bound always is).
    ///   - pldInterval: the rows' PLD grid spacing, in (0, 1]; coarser is cheaper and more
    ///     pessimistic, and reaches lower noise before the grid outgrows its limit.
    ///
    /// A valid ledger is never refused for the PLD's sake: when the estimate cannot be computed
    /// (its grid would be too large at this interval, e.g. after a low-noise round) the row keeps
    /// its RDP bound and ``Row/pldUnavailable`` says why.
    public init(
        entries: [LedgerEntry], delta: Double, budget: PrivacyBudget?, accountants: Accountants = .both,
        pldInterval: Double = defaultPLDInterval
    ) throws(TallyError) {
        guard delta.isFinite, delta > 0, delta < 1 else { throw TallyError(.invalidArgument, "δ must be in (0, 1), got \(delta)") }
        if let budget {
            guard budget.epsilon.isFinite, budget.epsilon >= 0, budget.delta.isFinite, budget.delta > 0, budget.delta < 1 else {
                throw TallyError(.invalidArgument, "a budget needs ε ≥ 0 and δ in (0, 1), got (\(budget.epsilon), \(budget.delta))")
            }
        }
        var accountant = try LedgerAccountant(pldInterval: pldInterval)
        for entry in entries { try entry.validate() }
        let orders = accountant.orders.count
        var federation = LedgerSeries(participant: nil, orders: orders)
        var series: [UInt32: LedgerSeries] = [:]
        // RDP, entry by entry: every point of the curve.
        var rdpPoints: [(entry: Int, participant: UInt32?, epsilon: Double)] = []
        for (index, entry) in entries.enumerated() {
            try federation.add(entry, index: index, accountant: &accountant)
            rdpPoints.append((index, nil, try federation.epsilonRDP(delta: delta, accountant: accountant)))
            for participant in entry.participants {
                var s = series[participant] ?? LedgerSeries(participant: participant, orders: orders)
                try s.add(entry, index: index, accountant: &accountant)
                rdpPoints.append((index, participant, try s.epsilonRDP(delta: delta, accountant: accountant)))
                series[participant] = s
            }
        }
        // Rows, and the PLD points of the curve one series at a time.
        var rows: [Row] = []
        var pldPoints: [PointKey: Double] = [:]
        let all = entries.isEmpty ? [] : [federation] + series.keys.sorted().map { series[$0]! }
        for s in all {
            let epsilon = try s.epsilonRDP(delta: delta, accountant: accountant)
            var pld: Double?, unavailable: String?
            if !accountants.includesPLD {
                unavailable = "not asked for (RDP only)"
            } else if !s.pldApplies {
                unavailable =
                    "does not apply: a round's sum of shares is not provably close to one discrete Gaussian (τ·d ≥ \(Self.negligibleTauTimesDimension)); only the RDP bound holds"
            } else {
                do {
                    pld = try s.epsilonPLD(delta: delta, accountant: &accountant)
                } catch {
                    unavailable =
                        "cannot be computed at PLD interval \(pldInterval): \(error.message) (the RDP bound stands; a coarser --pld-interval may reach it)"
                }
            }
            var left: Double?
            if let budget {
                let atBudget = budget.delta == delta ? epsilon : try s.epsilonRDP(delta: budget.delta, accountant: accountant)
                left = budget.epsilon - atBudget
            }
            rows.append(
                Row(
                    participant: s.participant, rounds: s.rounds, epsilonRDP: epsilon, epsilonPLD: pld, delta: delta,
                    deltaClamp: s.deltaClamp, budgetEpsilon: budget?.epsilon, budgetLeft: left, pldUnavailable: unavailable))
            if let pld {
                // The curve's coarser points are a picture, not a figure: one that cannot be
                // computed is left out.
                if let values = try? s.curvePLD(entries, delta: delta, points: Self.pldCurvePoints, accountant: &accountant) {
                    for (position, value) in values {
                        pldPoints[PointKey(entry: s.entries[position], participant: s.participant)] = value
                    }
                }
                pldPoints[PointKey(entry: s.entries.last!, participant: s.participant)] = pld
            }
        }
        let curve = rdpPoints.map { point in
            Point(
                roundID: entries[point.entry].roundID, participant: point.participant, epsilonRDP: point.epsilon,
                epsilonPLD: pldPoints[PointKey(entry: point.entry, participant: point.participant)])
        }
        let units = Set(entries.map(\.privacyUnit))
        self.privacyUnits = PrivacyUnit.allCases.map(\.rawValue).filter(units.contains)
        self.delta = delta
        self.accountants = accountants
        self.pldInterval = pldInterval
        self.rows = rows
        self.curve = curve
    }

    /// ε (RDP, sound for the distributed discrete Gaussian) of `entries` composed, at total δ: what
    /// a participant would have after adding the next round to its history (pass history + [next]).
    /// 0 for no entries.
    public static func epsilonRDP(entries: [LedgerEntry], delta: Double) throws(TallyError) -> Double {
        var running = try RunningEpsilon(entries: entries, delta: delta)
        return try running.epsilon()
    }

    /// JSON with the report's conventions: sorted keys, +∞ as `"inf"` (−∞ `"-inf"`), absent
    /// values as `null`.
    public static func encodeJSON(_ value: some Encodable) throws(TallyError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return [UInt8](try encoder.encode(value))
        } catch {
            throw TallyError(.invalidArgument, "cannot encode the report as JSON", cause: error)
        }
    }

    private struct PointKey: Hashable {
        let entry: Int
        let participant: UInt32?
    }
}
