import TallyCore

/// One line of a ``PrivacyReport`` being accumulated: the federation (every entry) or one
/// participant (the entries whose sum contains it).
struct LedgerSeries {
    let participant: UInt32?
    /// Indices (in the report's entries) of the entries in the series so far.
    private(set) var entries: [Int] = []
    /// Σ RDP at each order.
    private(set) var rdp: [Double]
    /// Σ δ_clamp of the series' old clamped-mechanism entries (0 for current entries).
    private(set) var deltaClamp = 0.0
    /// Effective (z, q) → rounds, for the PLD.
    private(set) var groups: [LedgerAccountant.GroupKey: Int] = [:]
    /// False once an entry's τ·d is not negligible: only the RDP bound applies.
    private(set) var pldApplies = true
    /// True once an entry without noise is in: ε = +∞.
    private(set) var noiseless = false

    init(participant: UInt32?, orders: Int) {
        self.participant = participant
        rdp = [Double](repeating: 0, count: orders)
    }

    var rounds: Int { entries.count }

    mutating func add(_ entry: LedgerEntry, index: Int, accountant: inout LedgerAccountant) throws(TallyError) {
        let curve = try accountant.rdpCurve(entry)
        for i in rdp.indices { rdp[i] += curve[i] }
        entries.append(index)
        deltaClamp += entry.deltaClamp
        if entry.isNoiseless {
            noiseless = true
        } else {
            if try accountant.tauTimesDimension(entry) >= PrivacyReport.negligibleTauTimesDimension { pldApplies = false }
            groups[Self.group(entry), default: 0] += 1
        }
    }

    static func group(_ entry: LedgerEntry) -> LedgerAccountant.GroupKey {
        LedgerAccountant.GroupKey(noiseMultiplier: entry.effectiveNoiseMultiplier, samplingRate: entry.samplingRate)
    }

    /// ε (RDP) at total δ; old clamped entries are charged δ_mech(ε) + (1 + e^ε)·Σδ_clamp ≤ δ
    /// (+∞ when no ε satisfies it).
    func epsilonRDP(delta: Double, accountant: LedgerAccountant) throws(TallyError) -> Double {
        if noiseless { return .infinity }
        let plain = try accountant.epsilonRDP(curve: rdp, delta: delta)
        guard deltaClamp > 0 else { return plain }
        let orders = accountant.orders, curve = rdp
        return try FailureEventCharge.epsilon(delta: delta, failureProbability: deltaClamp, lowerBound: plain) {
            (epsilon) throws(TallyError) in
            try RDPConversion.delta(orders: orders, rdp: curve, epsilon: epsilon).delta
        }
    }

    /// ε (PLD estimate, fine grid) at total δ, with the same charge for old clamped entries; nil
    /// when it does not apply.
    func epsilonPLD(delta: Double, accountant: inout LedgerAccountant) throws(TallyError) -> Double? {
        guard pldApplies else { return nil }
        if noiseless { return .infinity }
        return try accountant.epsilonPLD(groups: groups, delta: delta, failureProbability: deltaClamp)
    }

    /// PLD ε after about `points` evenly spaced entries of the series (always excluding the last,
    /// which is the row's value), on the coarse grid, composing the rounds since the previous
    /// point onto a running distribution: one series' distribution in memory at a time.
    /// Keys are positions in ``entries``.
    func curvePLD(_ all: [LedgerEntry], delta: Double, points: Int, accountant: inout LedgerAccountant) throws(TallyError) -> [Int: Double]
    {
        guard pldApplies, rounds > 1 else { return [:] }
        let stride = max(1, (rounds + points - 1) / points)
        var values: [Int: Double] = [:]
        var running: PrivacyLossDistribution?
        var pending: [LedgerAccountant.GroupKey: Int] = [:]
        var clamp = 0.0, infinite = false
        for position in 0..<(rounds - 1) {
            let entry = all[entries[position]]
            clamp += entry.deltaClamp
            if entry.isNoiseless { infinite = true } else { pending[Self.group(entry), default: 0] += 1 }
            guard (position + 1) % stride == 0 else { continue }
            if infinite {
                values[position] = .infinity
                continue
            }
            if let segment = try accountant.composition(pending, fine: false) {
                running = try running.map { (r) throws(TallyError) -> PrivacyLossDistribution in try r.composed(with: segment) } ?? segment
            }
            pending = [:]
            values[position] =
                try running.map { (r) throws(TallyError) in try LedgerAccountant.epsilon(r, delta: delta, failureProbability: clamp) } ?? 0
        }
        return values
    }

    var name: String { participant.map { "participant \($0)" } ?? "the federation" }
}
