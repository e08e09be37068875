import TallyCore

/// The per-entry arithmetic behind ``PrivacyReport``, with caches: ledgers repeat the same round
/// parameters many times, and a PLD composition costs FFTs. Single-round PLDs are built once per
/// (z, q) and grid; the ε of each distinct composition (groups, rounds, δ) is computed once, so
/// the federation and every participant with the same history share it.
struct LedgerAccountant {
    let orders = RDPConversion.defaultOrders
    /// The rows' grid: by default dp_accounting's (1e-4), as `tally-audit epsilon --accountant pld`.
    let fine: PLDAccountant
    /// The curve's grid: by default 1e-3, ten times cheaper; pessimistic like any connect-the-dots
    /// grid, and within about 1e-5 relative of the fine grid except at ε ≲ 0.1. Never finer than
    /// the rows' grid.
    let coarse: PLDAccountant

    /// The rows' grid (the curve's is `max(interval, 1e-3)`).
    init(pldInterval interval: Double = PrivacyReport.defaultPLDInterval) throws(TallyError) {
        fine = try PLDAccountant(discretization: interval)
        coarse = try PLDAccountant(discretization: max(interval, PrivacyReport.curvePLDInterval))
    }

    /// What determines an entry's RDP curve.
    struct RDPKey: Hashable {
        let shareSigmaSquared: Double, shares: Int, dimension: Int, l2Sensitivity: Double, samplingRate: Double
    }

    /// A run of entries with the same effective noise multiplier and sampling rate.
    struct GroupKey: Hashable, Comparable {
        let noiseMultiplier: Double, samplingRate: Double
        static func < (a: Self, b: Self) -> Bool {
            (a.noiseMultiplier, a.samplingRate) < (b.noiseMultiplier, b.samplingRate)
        }
    }

    struct CompositionKey: Hashable {
        let groups: [GroupKey], counts: [Int], delta: Double, failureProbability: Double
    }

    private var rdpCache: [RDPKey: [Double]] = [:]
    private var tauCache: [RDPKey: Double] = [:]
    private var fineBases: [GroupKey: PrivacyLossDistribution] = [:]
    private var coarseBases: [GroupKey: PrivacyLossDistribution] = [:]
    private var epsilonCache: [CompositionKey: Double] = [:]

    /// RDP of one entry at every order; +∞ throughout for an entry without noise.
    mutating func rdpCurve(_ entry: LedgerEntry) throws(TallyError) -> [Double] {
        if entry.isNoiseless { return [Double](repeating: .infinity, count: orders.count) }
        let key = Self.key(entry)
        if let cached = rdpCache[key] { return cached }
        let mechanism = try mechanism(entry)
        var curve: [Double] = []
        curve.reserveCapacity(orders.count)
        for alpha in orders {
            do {
                curve.append(try mechanism.rdp(order: alpha, samplingRate: entry.samplingRate))
            } catch {
                throw TallyError(error.code, "round \(entry.roundID): \(error.message)")
            }
        }
        rdpCache[key] = curve
        return curve
    }

    /// τ·d of Kairouz–Liu–Steinke for the entry (0 without noise: nothing to approximate).
    mutating func tauTimesDimension(_ entry: LedgerEntry) throws(TallyError) -> Double {
        if entry.isNoiseless { return 0 }
        let key = Self.key(entry)
        if let cached = tauCache[key] { return cached }
        let value = try mechanism(entry).tau * Double(entry.dimension)
        tauCache[key] = value
        return value
    }

    func epsilonRDP(curve: [Double], delta: Double) throws(TallyError) -> Double {
        try RDPConversion.epsilon(orders: orders, rdp: curve, delta: delta).epsilon
    }

    /// ε at `delta` of the Gaussian PLDs of `groups` (effective z, q) → rounds, composed, on the
    /// fine grid, charged for old clamped entries' Σδ_clamp (`failureProbability`).
    mutating func epsilonPLD(groups: [GroupKey: Int], delta: Double, failureProbability: Double) throws(TallyError) -> Double {
        let keys = groups.keys.sorted()
        let key = CompositionKey(groups: keys, counts: keys.map { groups[$0]! }, delta: delta, failureProbability: failureProbability)
        if let cached = epsilonCache[key] { return cached }
        let epsilon =
            try composition(groups, fine: true).map { (pld) throws(TallyError) in
                try Self.epsilon(pld, delta: delta, failureProbability: failureProbability)
            } ?? 0
        epsilonCache[key] = epsilon
        return epsilon
    }

    /// ε of a PLD at total δ, with δ_PLD(ε) + (1 + e^ε)·p ≤ δ when p > 0 (``FailureEventCharge``).
    static func epsilon(_ pld: PrivacyLossDistribution, delta: Double, failureProbability p: Double) throws(TallyError) -> Double {
        let plain = try pld.epsilon(delta: delta)
        guard p > 0 else { return plain }
        return try FailureEventCharge.epsilon(delta: delta, failureProbability: p, lowerBound: plain) { (epsilon) throws(TallyError) in
            try pld.delta(epsilon: epsilon)
        }
    }

    /// The composed PLD of `groups`; nil for none. Not cached: a composed distribution can take
    /// megabytes.
    mutating func composition(_ groups: [GroupKey: Int], fine: Bool) throws(TallyError) -> PrivacyLossDistribution? {
        var composed: PrivacyLossDistribution?
        for group in groups.keys.sorted() {
            let distribution = try base(group, fine: fine).selfComposed(times: groups[group]!)
            composed =
                try composed.map { (c) throws(TallyError) -> PrivacyLossDistribution in try c.composed(with: distribution) } ?? distribution
        }
        return composed
    }

    private mutating func base(_ group: GroupKey, fine: Bool) throws(TallyError) -> PrivacyLossDistribution {
        if let cached = fine ? fineBases[group] : coarseBases[group] { return cached }
        let distribution = try (fine ? self.fine : coarse)
            .privacyLossDistribution(noiseMultiplier: group.noiseMultiplier, samplingRate: group.samplingRate, steps: 1)
        if fine { fineBases[group] = distribution } else { coarseBases[group] = distribution }
        return distribution
    }

    private static func key(_ entry: LedgerEntry) -> RDPKey {
        RDPKey(
            shareSigmaSquared: entry.shareSigmaSquared, shares: entry.noiseShares, dimension: entry.dimension,
            l2Sensitivity: entry.l2Sensitivity, samplingRate: entry.samplingRate)
    }

    private func mechanism(_ entry: LedgerEntry) throws(TallyError) -> DistributedDiscreteGaussian {
        do {
            return try DistributedDiscreteGaussian(
                shareSigmaSquared: entry.shareSigmaSquared, shares: entry.noiseShares,
                dimension: entry.dimension, l2Sensitivity: entry.l2Sensitivity)
        } catch {
            throw TallyError(error.code, "round \(entry.roundID): \(error.message)")
        }
    }
}
