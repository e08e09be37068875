public import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A non-IID split of a labelled dataset across organizations, the standard simulation of
/// federated heterogeneity (Hsu, Qi, Brown 2019): for each class, proportions
/// p ~ Dirichlet(α, …, α) over the K organizations, and that class's examples are dealt out
/// in those proportions. Small α gives each organization a few dominant classes; large α
/// approaches an IID split.
///
/// Fully deterministic for a seed (see ``SimulationRandom``), so an experiment can be rerun
/// and a participant can recompute its own share. Floating point is fine here: this is not
/// privacy noise.
public struct DirichletPartition: Sendable, Hashable {
    public let alpha: Double
    public let seed: UInt64
    /// Example indices per organization, each sorted ascending. Every index of the dataset
    /// appears in exactly one organization, and no organization is empty.
    public let indices: [[Int]]

    public var organizationCount: Int { indices.count }

    /// Partitions the examples of `labels` (each below `classCount`) across `organizations`.
    ///
    /// - Parameter minimumPerOrganization: Organizations left with fewer examples take them,
    ///   one at a time, from the currently largest organization — a minimal, deterministic
    ///   correction for the small-α draws that leave someone with nothing.
    public init(
        labels: [UInt8], classCount: Int, organizations: Int, alpha: Double, seed: UInt64,
        minimumPerOrganization: Int = 1
    ) throws(TallyError) {
        guard organizations >= 1 else { throw TallyError(.invalidArgument, "need at least one organization") }
        guard alpha > 0, alpha.isFinite else { throw TallyError(.invalidArgument, "Dirichlet α must be positive and finite") }
        guard classCount >= 1 else { throw TallyError(.invalidArgument, "classCount must be positive") }
        guard minimumPerOrganization >= 0 else { throw TallyError(.invalidArgument, "minimumPerOrganization must be ≥ 0") }
        let (needed, overflow) = organizations.multipliedReportingOverflow(by: minimumPerOrganization)
        guard !overflow, labels.count >= needed else {
            throw TallyError(
                .invalidArgument, "\(labels.count) examples cannot give \(organizations) organizations \(minimumPerOrganization) each")
        }
        var byClass = [[Int]](repeating: [], count: classCount)
        for (i, label) in labels.enumerated() {
            guard Int(label) < classCount else {
                throw TallyError(.invalidArgument, "label \(label) at index \(i) is not below classCount \(classCount)")
            }
            byClass[Int(label)].append(i)
        }

        var rng = SimulationRandom(seed: seed)
        var parts = [[Int]](repeating: [], count: organizations)
        for var members in byClass {
            rng.shuffle(&members)
            let shares = Self.apportion(members.count, proportions: Self.dirichlet(alpha: alpha, count: organizations, rng: &rng))
            var start = 0
            for (k, share) in shares.enumerated() {
                parts[k].append(contentsOf: members[start..<(start + share)])
                start += share
            }
        }

        // Top up organizations below the minimum from the largest one (lowest index on ties).
        while let poor = parts.indices.first(where: { parts[$0].count < minimumPerOrganization }) {
            let rich = parts.indices.max { (parts[$0].count, $1) < (parts[$1].count, $0) }!
            parts[poor].append(parts[rich].removeLast())
        }

        self.alpha = alpha
        self.seed = seed
        self.indices = parts.map { $0.sorted() }
    }

    /// Partitions the examples of `dataset` (see ``init(labels:classCount:organizations:alpha:seed:minimumPerOrganization:)``).
    public init(
        dataset: Dataset, organizations: Int, alpha: Double, seed: UInt64,
        minimumPerOrganization: Int = 1
    ) throws(TallyError) {
        try self.init(
            labels: dataset.labels, classCount: dataset.classCount, organizations: organizations,
            alpha: alpha, seed: seed, minimumPerOrganization: minimumPerOrganization)
    }

    /// Per-organization class histograms, `[organization][class]`.
    public func classCounts(labels: [UInt8], classCount: Int) -> [[Int]] {
        indices.map { part in
            var counts = [Int](repeating: 0, count: classCount)
            for i in part { counts[Int(labels[i])] += 1 }
            return counts
        }
    }

    /// Proportions from Dirichlet(α): normalised Gamma(α) deviates, combined in log space.
    static func dirichlet(alpha: Double, count: Int, rng: inout SimulationRandom) -> [Double] {
        let logs = (0..<count).map { _ in rng.logGamma(shape: alpha) }
        let top = logs.max()!
        let weights = logs.map { exp($0 - top) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// Integer shares of `total` in the given proportions that sum exactly to `total`
    /// (largest-remainder method; ties go to the lower index).
    static func apportion(_ total: Int, proportions: [Double]) -> [Int] {
        let exact = proportions.map { $0 * Double(total) }
        var shares = exact.map { min(total, Int($0.rounded(.down))) }
        var left = total - shares.reduce(0, +)
        let byRemainder = exact.indices.sorted { a, b in
            let ra = exact[a] - Double(shares[a]), rb = exact[b] - Double(shares[b])
            return ra != rb ? ra > rb : a < b
        }
        var cursor = 0
        while left > 0 {
            shares[byRemainder[cursor % byRemainder.count]] += 1
            left -= 1
            cursor += 1
        }
        while left < 0 { // Only possible through rounding of proportions summing just above 1.
            let k = shares.indices.max { (shares[$0], $1) < (shares[$1], $0) }!
            shares[k] -= 1
            left += 1
        }
        return shares
    }
}
