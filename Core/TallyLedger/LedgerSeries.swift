import TallyCore

/// One line of a ``PrivacyReport`` being accumulated: the federation (every entry) or one
/// participant (the entries whose sum contains it).
struct LedgerSeries {
    let participant: UInt32?
    /// Entries in the series so far.
    private(set) var rounds = 0
    /// Entries the series will have in all (to space out the PLD points of the curve).
    let totalRounds: Int
    /// Σ RDP at each order.
    private(set) var rdp: [Double]
    private(set) var deltaClamp = 0.0
    /// Effective (z, q) → rounds, for the PLD.
    private(set) var groups: [LedgerAccountant.GroupKey: Int] = [:]
    /// False once an entry's τ·d is not negligible: only the RDP bound applies.
    private(set) var pldApplies = true
    /// True once an entry without noise is in: ε = +∞.
    private(set) var noiseless = false

    init(participant: UInt32?, totalRounds: Int, orders: Int) {
        self.participant = participant
        self.totalRounds = totalRounds
        rdp = [Double](repeating: 0, count: orders)
    }

    mutating func add(_ entry: LedgerEntry, accountant: inout LedgerAccountant) throws(TallyError) {
        let curve = try accountant.rdpCurve(entry)
        for i in rdp.indices { rdp[i] += curve[i] }
        rounds += 1
        deltaClamp += entry.deltaClamp
        if entry.isNoiseless {
            noiseless = true
        } else {
            if try accountant.tauTimesDimension(entry) >= PrivacyReport.negligibleTauTimesDimension { pldApplies = false }
            groups[LedgerAccountant.GroupKey(noiseMultiplier: entry.effectiveNoiseMultiplier, samplingRate: entry.samplingRate), default: 0] += 1
        }
    }

    /// δ left for the mechanism once the clamping probabilities are taken out of `delta`.
    func mechanismDelta(_ delta: Double) -> Double { delta - deltaClamp }

    /// ε (RDP) at total δ; throws if the clamping probabilities use up δ.
    func epsilonRDP(delta: Double, accountant: LedgerAccountant) throws(TallyError) -> Double {
        let mechanismDelta = mechanismDelta(delta)
        guard mechanismDelta > 0 else {
            throw TallyError(.invalidArgument, "δ = \(delta) is used up by the clamping probabilities of \(name)'s \(rounds) rounds (Σδ_clamp = \(deltaClamp)); report at a larger δ")
        }
        if noiseless { return .infinity }
        return try accountant.epsilonRDP(curve: rdp, delta: mechanismDelta)
    }

    /// ε (PLD estimate) at total δ, nil when it does not apply.
    func epsilonPLD(delta: Double, accountant: inout LedgerAccountant) throws(TallyError) -> Double? {
        guard pldApplies else { return nil }
        let mechanismDelta = mechanismDelta(delta)
        guard mechanismDelta > 0 else { return nil }
        if noiseless { return .infinity }
        return try accountant.epsilonPLD(groups: groups, delta: mechanismDelta)
    }

    /// Whether the curve gets a PLD point after the current entry: every entry for short series,
    /// about 50 evenly spaced points (and always the last) for long ones.
    var wantsPLDPoint: Bool {
        let stride = max(1, (totalRounds + PrivacyReport.pldCurvePoints - 1) / PrivacyReport.pldCurvePoints)
        return rounds % stride == 0 || rounds == totalRounds
    }

    var name: String { participant.map { "participant \($0)" } ?? "the federation" }
}
