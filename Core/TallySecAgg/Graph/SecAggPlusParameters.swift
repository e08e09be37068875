public import TallyCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Chooses the neighbour degree k and threshold t from the cohort size, the expected dropout
/// rate and the fraction of participants that may collude with the coordinator.
///
/// Each participant's secrets are held by its neighbourhood of m = k + 1 (itself included).
/// A union bound over the n neighbourhoods gives the two failure probabilities we bound:
/// - correctness: some neighbourhood keeps fewer than t survivors, so a secret cannot be
///   recovered and the round aborts:  n · P[Bin(m, 1 − dropout) < t] ≤ 2^−correctnessBits;
/// - privacy: some neighbourhood holds t or more colluders, who with the coordinator could
///   recover both secrets of a participant:  n · P[Bin(m, corruption) ≥ t] ≤ 2^−securityBits.
/// The smallest even k for which some t satisfies both wins (the smallest such t, which
/// tolerates the most dropouts). If none below n − 1 does, the complete graph is used.
/// This is a simplification of Bell et al. (CCS 2020, §3–4), who additionally bound the
/// connectivity of the honest survivors' subgraph; see docs/protocol.md.
public enum SecAggPlusParameters {
    public struct Choice: Sendable, Hashable {
        public let graph: NeighbourGraph.Kind
        public let threshold: Int
        /// log2 of the bounded failure probabilities.
        public let log2CorrectnessFailure: Double
        public let log2PrivacyFailure: Double
    }

    public static func choose(
        cohortSize n: Int, dropoutRate: Double, corruptionRate: Double,
        securityBits: Double = 40, correctnessBits: Double = 20
    ) throws(TallyError) -> Choice {
        guard n >= 2 else { throw TallyError(.invalidArgument, "a cohort has at least 2 participants") }
        guard (0..<0.5).contains(dropoutRate), (0..<0.5).contains(corruptionRate) else {
            throw TallyError(.invalidArgument, "dropout and corruption rates must be in [0, 0.5)")
        }
        let log2n = log2(Double(n))
        var k = 2
        while k < n - 1 {
            if let choice = feasible(
                m: k + 1, log2n: log2n, dropoutRate: dropoutRate, corruptionRate: corruptionRate,
                securityBits: securityBits, correctnessBits: correctnessBits, graph: .harary(degree: k))
            {
                return choice
            }
            k += 2
        }
        if let choice = feasible(
            m: n, log2n: log2n, dropoutRate: dropoutRate, corruptionRate: corruptionRate,
            securityBits: securityBits, correctnessBits: correctnessBits, graph: .complete)
        {
            return choice
        }
        // Small cohorts cannot reach the targets; fall back to the complete graph with the
        // majority threshold and report the bounds actually achieved.
        let t = n / 2 + 1
        return Choice(
            graph: .complete, threshold: t,
            log2CorrectnessFailure: log2n + log2BinomialTail(m: n, p: 1 - dropoutRate, below: t),
            log2PrivacyFailure: log2n + log2BinomialTail(m: n, p: corruptionRate, atLeast: t))
    }

    private static func feasible(
        m: Int, log2n: Double, dropoutRate: Double, corruptionRate: Double,
        securityBits: Double, correctnessBits: Double, graph: NeighbourGraph.Kind
    ) -> Choice? {
        for t in (m / 2 + 1)...m {
            let privacy = log2n + log2BinomialTail(m: m, p: corruptionRate, atLeast: t)
            guard privacy <= -securityBits else { continue }
            let correctness = log2n + log2BinomialTail(m: m, p: 1 - dropoutRate, below: t)
            return correctness <= -correctnessBits
                ? Choice(graph: graph, threshold: t, log2CorrectnessFailure: correctness, log2PrivacyFailure: privacy)
                : nil // a larger t only makes correctness worse
        }
        return nil
    }

    /// log2 P[Bin(m, p) ≥ t].
    static func log2BinomialTail(m: Int, p: Double, atLeast t: Int) -> Double {
        guard t <= m else { return -.infinity }
        return log2SumExp((max(t, 0)...m).map { log2BinomialPMF(m: m, p: p, i: $0) })
    }

    /// log2 P[Bin(m, p) < t].
    static func log2BinomialTail(m: Int, p: Double, below t: Int) -> Double {
        guard t > 0 else { return -.infinity }
        return log2SumExp((0...min(t - 1, m)).map { log2BinomialPMF(m: m, p: p, i: $0) })
    }

    private static func log2BinomialPMF(m: Int, p: Double, i: Int) -> Double {
        if p == 0 { return i == 0 ? 0 : -.infinity }
        if p == 1 { return i == m ? 0 : -.infinity }
        let lnChoose = lgamma(Double(m + 1)) - lgamma(Double(i + 1)) - lgamma(Double(m - i + 1))
        return (lnChoose + Double(i) * log(p) + Double(m - i) * log1p(-p)) / M_LN2
    }

    private static func log2SumExp(_ xs: [Double]) -> Double {
        guard let top = xs.max(), top > -.infinity else { return -.infinity }
        return top + log2(xs.reduce(0) { $0 + exp2($1 - top) })
    }
}
