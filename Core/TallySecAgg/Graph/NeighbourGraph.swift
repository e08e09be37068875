public import TallyCore

/// Who exchanges pairwise masks and secret shares with whom.
///
/// `.complete` is the original protocol (Bonawitz et al., CCS 2017): every pair masks, every
/// participant holds a share of every secret. `.harary(degree: k)` is SecAgg+ (Bell et al.,
/// CCS 2020): participants sit on a ring in an order drawn from the round's configuration
/// digest and each is joined to the k/2 nearest on either side, so per-participant work is
/// O(k) instead of O(n). Both ends compute the same graph from public data.
public struct NeighbourGraph: Sendable {
    public enum Kind: Sendable, Hashable {
        case complete
        /// A k-regular Harary graph under a pseudorandom relabelling; k is even, ≥ 2.
        case harary(degree: Int)

        /// Size of a participant's neighbourhood including itself (the holders of its shares).
        public func neighbourhoodSize(cohortSize n: Int) -> Int {
            switch self {
            case .complete: return n
            case .harary(let k): return min(k, n - 1) + 1
            }
        }
    }

    private let cohort: [ParticipantID]
    private let kind: Kind
    /// Position of each participant on the ring (Harary only).
    private let position: [ParticipantID: Int]
    private let ring: [ParticipantID]

    public init(configuration: SecAggConfiguration) throws(TallyError) {
        cohort = configuration.cohort
        kind = configuration.graph
        switch configuration.graph {
        case .complete:
            position = [:]
            ring = []
        case .harary(let k):
            guard k >= 2, k % 2 == 0 else {
                throw TallyError(.invalidArgument, "a Harary graph needs an even degree ≥ 2, got \(k)")
            }
            // Fisher–Yates with a generator seeded from the configuration digest: public,
            // deterministic, and not steerable by any one party once the cohort is fixed.
            let random = SeededRandom(seed: SHA256Digest.hash(Array(SecAggLabels.graph.utf8) + configuration.digest))
            var order = configuration.cohort
            var generator = SeededShuffleGenerator(random)
            order.shuffle(using: &generator)
            ring = order
            position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        }
    }

    /// The neighbours of `id`, excluding itself, sorted.
    public func neighbours(of id: ParticipantID) -> [ParticipantID] {
        switch kind {
        case .complete:
            return cohort.filter { $0 != id }
        case .harary(let k):
            guard let p = position[id] else { return [] }
            let n = ring.count
            if k >= n - 1 { return cohort.filter { $0 != id } }
            var result: [ParticipantID] = []
            result.reserveCapacity(k)
            for offset in 1...(k / 2) {
                result.append(ring[(p + offset) % n])
                result.append(ring[(p - offset + n) % n])
            }
            return result.sorted()
        }
    }

    public func areNeighbours(_ a: ParticipantID, _ b: ParticipantID) -> Bool {
        switch kind {
        case .complete:
            return a != b
        case .harary(let k):
            guard let pa = position[a], let pb = position[b], pa != pb else { return false }
            let n = ring.count
            if k >= n - 1 { return true }
            let distance = min((pa - pb + n) % n, (pb - pa + n) % n)
            return distance <= k / 2
        }
    }
}

/// Adapts a seeded source to the standard library's shuffle.
struct SeededShuffleGenerator: RandomNumberGenerator {
    let source: SeededRandom
    init(_ source: SeededRandom) { self.source = source }
    mutating func next() -> UInt64 { source.nextWord() }
}
