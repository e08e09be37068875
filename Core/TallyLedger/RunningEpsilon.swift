public import TallyCore

/// ε (RDP, the bound budgets are enforced with) of a ledger that grows by one entry per round,
/// kept up to date entry by entry.
///
/// A budget check before every round and the ε in every manifest's lineage would otherwise
/// re-read and re-account the whole ledger each round: linear in the rounds so far, which made
/// a round of a 300-round federation take twice as long at its end as at its start. The figures
/// are ``PrivacyReport/epsilonRDP(entries:delta:)``'s, which is this type run over the entries.
public struct RunningEpsilon {
    public let delta: Double
    private var accountant: LedgerAccountant
    private var series: LedgerSeries

    public init(entries: [LedgerEntry] = [], delta: Double) throws(TallyError) {
        guard delta.isFinite, delta > 0, delta < 1 else { throw TallyError(.invalidArgument, "δ must be in (0, 1), got \(delta)") }
        self.delta = delta
        accountant = try LedgerAccountant()
        series = LedgerSeries(participant: nil, orders: accountant.orders.count)
        for entry in entries { try add(entry) }
    }

    /// Entries accounted for.
    public var rounds: Int { series.rounds }

    /// Accounts for one more entry (checked first: an invalid one changes nothing).
    public mutating func add(_ entry: LedgerEntry) throws(TallyError) {
        try entry.validate()
        try series.add(entry, index: series.rounds, accountant: &accountant)
    }

    /// ε of the entries so far (0 for none).
    public mutating func epsilon() throws(TallyError) -> Double {
        series.rounds == 0 ? 0 : try series.epsilonRDP(delta: delta, accountant: accountant)
    }

    /// ε the entries so far and `entry` would make, leaving this account as it is.
    public mutating func epsilon(adding entry: LedgerEntry) throws(TallyError) -> Double {
        try entry.validate()
        var extended = series
        try extended.add(entry, index: series.rounds, accountant: &accountant)
        return try extended.epsilonRDP(delta: delta, accountant: accountant)
    }
}

extension PrivacyLedger {
    /// Appends `entry` (signed and synced) and accounts for it in `running`, the ledger's ε kept
    /// by its only writer. Should the running account refuse it, it is rebuilt from the ledger,
    /// which is the truth.
    public func append(_ entry: LedgerEntry, accountingIn running: inout RunningEpsilon) throws(TallyError) {
        _ = try append(entry)
        do { try running.add(entry) } catch { running = try RunningEpsilon(entries: try entries(), delta: running.delta) }
    }
}
