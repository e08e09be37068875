import Foundation
import TallyCore
import Testing

@testable import TallyLedger

/// The report on a valid ledger always gives the enforced RDP bound, whatever the PLD can do, and
/// everything it computes with is bounded (issues #14, #15).
@Suite struct ReportBoundsTests {
    /// One round at effective z = √(3·2·10⁷)/387 000 ≈ 0.02: valid, but its privacy-loss range
    /// needs ~3.5·10⁷ grid points at the default 1e-4 interval, over the FFT limit.
    static func lowNoise(round: UInt64) -> LedgerEntry { entry(round: round, participants: [1, 2, 3], l2Sensitivity: 387_000) }

    @Test func aLowNoiseRoundKeepsTheRDPBoundAndSaysWhyPLDIsMissing() throws {
        let low = Self.lowNoise(round: 2)
        #expect(abs(low.effectiveNoiseMultiplier - 0.02) < 1e-4)
        // Positive control: the PLD of that round cannot be built at the default interval, which
        // is what made every later report fail.
        #expect(throws: TallyError.self) {
            try PLDAccountant().epsilon(noiseMultiplier: low.effectiveNoiseMultiplier, samplingRate: 1, steps: 1, delta: 1e-5)
        }

        let entries = [entry(round: 1), low, entry(round: 3, participants: [4, 5, 6])]
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: PrivacyBudget(epsilon: 10, delta: 1e-5))
        let expectedRDP = try PrivacyReport.epsilonRDP(entries: Array(entries.prefix(2)), delta: 1e-5)
        let byParticipant = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.participant, $0) })
        for who in [nil, 1] as [UInt32?] {
            let row = try #require(byParticipant[who])
            #expect(row.epsilonRDP.isFinite && row.epsilonRDP > 100, "z = 0.02 costs a lot, and the bound says so")
            #expect(row.epsilonPLD == nil)
            #expect(row.pldUnavailable?.contains("cannot be computed at PLD interval 0.0001") == true, "\(row.pldUnavailable ?? "nil")")
            #expect(row.pldUnavailable?.contains("the RDP bound stands") == true)
            #expect(row.budgetLeft! < 0)
        }
        #expect(byParticipant[1]!.epsilonRDP == expectedRDP)
        // Participants without the low-noise round keep their PLD.
        let unaffected = try #require(byParticipant[4])
        #expect(unaffected.epsilonPLD != nil && unaffected.pldUnavailable == nil)

        // A coarser grid reaches it, and is never below the finer grid's figure (pessimistic).
        let coarse = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil, pldInterval: 1e-3)
        let federation = coarse.rows[0]
        #expect(federation.pldUnavailable == nil)
        let pld = try #require(federation.epsilonPLD)
        #expect(pld.isFinite && pld <= federation.epsilonRDP)

        // RDP only: no PLD work at all, and the reason says it was not asked for.
        let rdpOnly = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil, accountants: .rdp)
        #expect(rdpOnly.rows.allSatisfy { $0.epsilonPLD == nil && $0.pldUnavailable == "not asked for (RDP only)" })
        #expect(rdpOnly.rows.map(\.epsilonRDP) == report.rows.map(\.epsilonRDP))
        #expect(throws: TallyError.self) { try PrivacyReport(entries: entries, delta: 1e-5, budget: nil, pldInterval: 0) }
    }

    /// τ with 2⁶² shares: the old loop ran 2⁶² times; now the work is bounded and the value is an
    /// upper bound on the exact sum.
    @Test func tauIsBoundedAndNeverBelowTheExactSum() throws {
        let huge = try DistributedDiscreteGaussian(shareSigmaSquared: 0.25, shares: 1 << 62, dimension: 8, l2Sensitivity: 1)
        let tau = huge.tau
        #expect(tau.isFinite && tau > 0)
        // Control: for n just over the exact-term limit, the bound is ≥ the exact sum and close to it.
        let n = DistributedDiscreteGaussian.maxExactTauTerms + 1000
        let over = try DistributedDiscreteGaussian(shareSigmaSquared: 0.25, shares: n, dimension: 8, l2Sensitivity: 1)
        var exact = 0.0
        let c = -2 * Double.pi * Double.pi * 0.25
        for k in 1..<n { exact += exp(c * Double(k) / Double(k + 1)) }
        exact *= 10
        #expect(over.tau >= exact)
        #expect(over.tau <= exact * (1 + 1e-6))
        // Below the limit τ is the exact sum, as before.
        let small = try DistributedDiscreteGaussian(shareSigmaSquared: 0.25, shares: 5, dimension: 8, l2Sensitivity: 1)
        let direct = 10 * (1..<5).reduce(0.0) { $0 + exp(c * Double($1) / Double($1 + 1)) }
        #expect(small.tau == direct)
    }

    /// An entry that claims 2⁶² shares (and cohort) is refused by validation, naming its round.
    @Test func absurdEntriesAreRefusedNamingTheRound() throws {
        var hostile = entry(round: 42)
        hostile.noiseShares = 1 << 62
        hostile.cohortSize = 1 << 62
        #expect {
            try hostile.validate()
        } throws: { error in
            (error as? TallyError)?.message.contains("ledger entry for round 42: cohort size 4611686018427387904 is over the limit") == true
        }
        #expect(throws: TallyError.self) { try PrivacyReport(entries: [hostile], delta: 1e-5, budget: nil) }
        var wide = entry(round: 43)
        wide.dimension = Int.max
        #expect(throws: TallyError.self) { try wide.validate() }
        // At the limit it is still accounted for.
        var largest = entry(round: 44)
        largest.cohortSize = LedgerEntry.maxCohortSize
        largest.noiseShares = LedgerEntry.maxCohortSize
        let report = try PrivacyReport(entries: [largest], delta: 1e-5, budget: nil)
        #expect(report.rows[0].epsilonRDP.isFinite)
    }
}
