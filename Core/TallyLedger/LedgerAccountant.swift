import TallyCore

/// The per-entry arithmetic behind ``PrivacyReport``, with caches: ledgers repeat the same round
/// parameters many times, and a PLD composition costs FFTs, so the ε of each distinct composition
/// (groups, rounds, δ) is computed once — the federation and every participant with the same
/// history share it.
struct LedgerAccountant {
    let orders = RDPConversion.defaultOrders
    let pld = PLDAccountant()

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
        let groups: [GroupKey], counts: [Int], delta: Double
    }

    private var rdpCache: [RDPKey: [Double]] = [:]
    private var tauCache: [RDPKey: Double] = [:]
    private var epsilonCache: [CompositionKey: Double] = [:]

    /// RDP of one entry at every order; +∞ throughout for an entry without noise.
    mutating func rdpCurve(_ entry: LedgerEntry) throws(TallyError) -> [Double] {
        if entry.isNoiseless { return [Double](repeating: .infinity, count: orders.count) }
        let key = RDPKey(shareSigmaSquared: entry.shareSigmaSquared, shares: entry.noiseShares, dimension: entry.dimension,
                         l2Sensitivity: entry.l2Sensitivity, samplingRate: entry.samplingRate)
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
        let key = RDPKey(shareSigmaSquared: entry.shareSigmaSquared, shares: entry.noiseShares, dimension: entry.dimension,
                         l2Sensitivity: entry.l2Sensitivity, samplingRate: entry.samplingRate)
        if let cached = tauCache[key] { return cached }
        let value = try mechanism(entry).tau * Double(entry.dimension)
        tauCache[key] = value
        return value
    }

    func epsilonRDP(curve: [Double], delta: Double) throws(TallyError) -> Double {
        try RDPConversion.epsilon(orders: orders, rdp: curve, delta: delta).epsilon
    }

    /// ε at `delta` of the Gaussian PLDs of `groups` (effective z, q) → rounds, composed.
    mutating func epsilonPLD(groups: [GroupKey: Int], delta: Double) throws(TallyError) -> Double {
        let keys = groups.keys.sorted()
        let key = CompositionKey(groups: keys, counts: keys.map { groups[$0]! }, delta: delta)
        if let cached = epsilonCache[key] { return cached }
        var composed: PrivacyLossDistribution?
        for group in keys {
            let count = groups[group]!
            // Not cached: a composed distribution can take megabytes; the ε it gives is cached.
            let distribution = try pld.privacyLossDistribution(noiseMultiplier: group.noiseMultiplier, samplingRate: group.samplingRate, steps: count)
            composed = try composed.map { (c) throws(TallyError) -> PrivacyLossDistribution in try c.composed(with: distribution) } ?? distribution
        }
        let epsilon = try composed?.epsilon(delta: delta) ?? 0
        epsilonCache[key] = epsilon
        return epsilon
    }

    private func mechanism(_ entry: LedgerEntry) throws(TallyError) -> DistributedDiscreteGaussian {
        do {
            return try DistributedDiscreteGaussian(shareSigmaSquared: entry.shareSigmaSquared, shares: entry.noiseShares,
                                                   dimension: entry.dimension, l2Sensitivity: entry.l2Sensitivity)
        } catch {
            throw TallyError(error.code, "round \(entry.roundID): \(error.message)")
        }
    }
}
