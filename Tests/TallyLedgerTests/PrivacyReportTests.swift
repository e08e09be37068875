import Foundation
import TallyCore
import Testing

@testable import TallyLedger

@Suite struct PrivacyReportTests {
    static let realistic = try! DistributedDiscreteGaussian(shareSigmaSquared: 2.0e7, shares: 3, dimension: 8192, l2Sensitivity: 7800)

    /// What the report must equal for `steps` identical realistic rounds: the distributed discrete
    /// Gaussian composed directly, at δ (noise is added unclamped: nothing is set aside).
    func direct(steps: Int, delta: Double) throws -> Double {
        try Self.realistic.epsilon(steps: steps, delta: delta)
    }

    @Test func singleParticipantMatchesDirectComposition() throws {
        let entries = (1...10).map { entry(round: UInt64($0), participants: [1]) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        #expect(report.rows.count == 2)
        let expected = try direct(steps: 10, delta: 1e-5)
        for row in report.rows {
            #expect(row.rounds == 10)
            #expect(abs(row.epsilonRDP - expected) <= 1e-12 * expected)
            #expect(row.budgetLeft == nil && row.budgetEpsilon == nil)
        }
        #expect(report.rows[0].participant == nil && report.rows[1].participant == 1)
        #expect(try PrivacyReport.epsilonRDP(entries: entries, delta: 1e-5) == report.rows[0].epsilonRDP)
        #expect(try PrivacyReport.epsilonRDP(entries: [], delta: 1e-5) == 0)
        // Sanity of scale: z_eff ≈ 0.99 for 10 full-batch rounds is a few ε, not a fraction or hundreds.
        #expect(expected > 5 && expected < 30)
    }

    @Test func aParticipantPaysOnlyForItsOwnRounds() throws {
        // Participant 2 is in 3 of the 5 sums, participant 1 in all of them.
        let entries = (1...5).map { entry(round: UInt64($0), participants: $0 % 2 == 1 ? [1, 2, 3] : [1, 3, 4]) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        #expect(report.rows.map(\.participant) == [nil, 1, 2, 3, 4])
        let byParticipant = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.participant, $0) })
        let three = try direct(steps: 3, delta: 1e-5), five = try direct(steps: 5, delta: 1e-5), two = try direct(steps: 2, delta: 1e-5)
        #expect(byParticipant[2]!.rounds == 3)
        #expect(abs(byParticipant[2]!.epsilonRDP - three) <= 1e-12 * three)
        #expect(abs(byParticipant[4]!.epsilonRDP - two) <= 1e-12 * two)
        #expect(abs(byParticipant[1]!.epsilonRDP - five) <= 1e-12 * five)
        #expect(byParticipant[nil]!.epsilonRDP == byParticipant[1]!.epsilonRDP)
        #expect(byParticipant[2]!.epsilonRDP < byParticipant[1]!.epsilonRDP)
        // The curve: after each entry the federation's point, then one per participant in it.
        #expect(report.curve.count == 5 * 4)
        let participant2 = report.curve.filter { $0.participant == 2 }
        #expect(participant2.map(\.roundID) == [1, 3, 5])
        #expect(zip(participant2, participant2.dropFirst()).allSatisfy { $0.epsilonRDP < $1.epsilonRDP })
        #expect(participant2.last!.epsilonRDP == byParticipant[2]!.epsilonRDP)
    }

    /// Old entries clamped noised values: charged δ_mech(ε) + (1 + e^ε)·Σδ_clamp ≤ δ, which costs
    /// more than taking Σδ_clamp out of δ (the old, unproven accounting) or ignoring it.
    @Test func oldClampedEntriesAreChargedAsAFailureEvent() throws {
        // Ten times the realistic σ² (z_eff ≈ 3.1): ε ≈ 3.5 over 5 rounds, where (1 + e^ε)·Σδ_clamp fits δ.
        let delta = 1e-5, perRound = 1e-8, sigmaSquared = 2.0e8
        let mechanism = try DistributedDiscreteGaussian(shareSigmaSquared: sigmaSquared, shares: 3, dimension: 8192, l2Sensitivity: 7800)
        let entries = (1...5).map { clampedEntry(round: UInt64($0), shareSigmaSquared: sigmaSquared, deltaClamp: perRound) }
        let report = try PrivacyReport(entries: entries, delta: delta, budget: nil)
        let row = report.rows[0]
        #expect(abs(row.deltaClamp - 5 * perRound) < 1e-20)
        let ignoringClamps = try mechanism.epsilon(steps: 5, delta: delta)
        let subtracted = try mechanism.epsilon(steps: 5, delta: delta - 5 * perRound)
        #expect(row.epsilonRDP > subtracted && subtracted > ignoringClamps)
        // Independently: the smallest ε on a 10⁻⁴ grid with δ_RDP(ε) + (1 + e^ε)·Σδ_clamp ≤ δ.
        let orders = RDPConversion.defaultOrders
        let curve = try orders.map { try 5 * mechanism.rdp(order: $0) }
        func charged(_ epsilon: Double) throws -> Double {
            try RDPConversion.delta(orders: orders, rdp: curve, epsilon: epsilon).delta + (1 + exp(epsilon)) * 5 * perRound
        }
        var grid = ignoringClamps
        while try charged(grid) > delta, grid < ignoringClamps + 5 { grid += 1e-4 }
        #expect(try charged(grid) <= delta)
        #expect(row.epsilonRDP <= grid && row.epsilonRDP > grid - 1e-4 - 1e-9, "report \(row.epsilonRDP), grid \(grid)")
        #expect(try charged(row.epsilonRDP) <= delta * (1 + 1e-9))
        #expect(try PrivacyReport.epsilonRDP(entries: entries, delta: delta) == row.epsilonRDP)
        // The PLD estimate gets the same charge.
        let pld = try #require(row.epsilonPLD)
        let plainPLD = try PLDAccountant().epsilon(
            noiseMultiplier: entries[0].effectiveNoiseMultiplier, samplingRate: 1, steps: 5, delta: delta)
        #expect(pld > plainPLD && pld <= row.epsilonRDP)
        // A current entry in the same series adds no clamping charge of its own.
        let next = entry(round: 6, participants: [1], shareSigmaSquared: sigmaSquared)
        let mixed = try PrivacyReport(entries: entries + [next], delta: delta, budget: nil).rows[0]
        #expect(mixed.deltaClamp == row.deltaClamp)
    }

    @Test func oldClampedEntriesAreInfiniteWhenTheChargeCannotFit() throws {
        // 2·Σδ_clamp ≥ δ: no ε ≥ 0 can satisfy the inequality.
        let heavy = (1...5).map { clampedEntry(round: UInt64($0), deltaClamp: 1e-6) }
        #expect(try PrivacyReport.epsilonRDP(entries: heavy, delta: 1e-5) == .infinity)
        // Σδ_clamp = 5·10⁻⁷ < δ/2, but at the ε these rounds need, (1 + e^ε)·Σδ_clamp exceeds δ.
        let moderate = (1...5).map { clampedEntry(round: UInt64($0), deltaClamp: 1e-7) }
        #expect(try direct(steps: 5, delta: 1e-5) > log(1e-5 / 5e-7 - 1))
        let report = try PrivacyReport(entries: moderate, delta: 1e-5, budget: PrivacyBudget(epsilon: 50, delta: 1e-5))
        #expect(report.rows.allSatisfy { $0.epsilonRDP == .infinity && $0.epsilonPLD == .infinity && $0.budgetLeft == -.infinity })
        // At a δ large enough for (1 + e^ε)·Σδ_clamp to fit, the same rounds have a finite ε again.
        #expect(try PrivacyReport.epsilonRDP(entries: moderate, delta: 0.05).isFinite)
    }

    @Test func pldIsTighterThanRDPForRealisticRounds() throws {
        let entries = (1...8).map { entry(round: UInt64($0)) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let row = report.rows[0]
        let pld = try #require(row.epsilonPLD)
        #expect(pld > 0 && pld <= row.epsilonRDP, "PLD \(pld), RDP \(row.epsilonRDP)")
        // It is the Gaussian PLD at the effective noise multiplier.
        let z = entries[0].effectiveNoiseMultiplier
        let expected = try PLDAccountant().epsilon(noiseMultiplier: z, samplingRate: 1, steps: 8, delta: 1e-5)
        #expect(abs(pld - expected) <= 1e-9 * expected)
        #expect(report.curve.filter { $0.participant == nil }.allSatisfy { $0.epsilonPLD != nil })
        // Rounds with different noise are grouped and composed.
        let mixed = (1...4).map { entry(round: UInt64($0)) } + (5...6).map { entry(round: UInt64($0), shareSigmaSquared: 4.0e7) }
        let mixedRow = try PrivacyReport(entries: mixed, delta: 1e-5, budget: nil).rows[0]
        let accountant = PLDAccountant()
        let composed = try accountant.privacyLossDistribution(noiseMultiplier: mixed[0].effectiveNoiseMultiplier, samplingRate: 1, steps: 4)
            .composed(
                with: try accountant.privacyLossDistribution(noiseMultiplier: mixed[5].effectiveNoiseMultiplier, samplingRate: 1, steps: 2))
        let composedEpsilon = try composed.epsilon(delta: 1e-5)
        #expect(abs(try #require(mixedRow.epsilonPLD) - composedEpsilon) <= 1e-9 * composedEpsilon)
        #expect(mixedRow.epsilonPLD! <= mixedRow.epsilonRDP)
    }

    @Test func pldIsNotReportedWhenTheSumIsFarFromADiscreteGaussian() throws {
        // σ² = 0.3 per share: τ·d is large, the sum of shares is not close to one discrete Gaussian.
        let tau = try DistributedDiscreteGaussian(shareSigmaSquared: 0.3, shares: 3, dimension: 8192, l2Sensitivity: 1).tau
        #expect(tau * 8192 > PrivacyReport.negligibleTauTimesDimension)
        let entries = (1...3).map { entry(round: UInt64($0), participants: [1], shareSigmaSquared: 0.3, l2Sensitivity: 1) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        #expect(report.rows.allSatisfy { $0.epsilonPLD == nil })
        #expect(report.rows.allSatisfy { $0.epsilonRDP.isFinite && $0.epsilonRDP > 0 })
        #expect(report.curve.allSatisfy { $0.epsilonPLD == nil })
        // One such round in a participant's history is enough to lose the PLD for it, not for others.
        let mixed = [entry(round: 1, participants: [1]), entry(round: 2, participants: [2], shareSigmaSquared: 0.3, l2Sensitivity: 1)]
        let rows = try PrivacyReport(entries: mixed, delta: 1e-5, budget: nil).rows
        #expect(rows.map { $0.epsilonPLD != nil } == [false, true, false])
    }

    @Test func aRoundWithoutNoiseIsInfinite() throws {
        let entries = [
            entry(round: 1, participants: [1]), entry(round: 2, participants: [1, 2], shareSigmaSquared: 0, noiseMultiplier: 0),
        ]
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: PrivacyBudget(epsilon: 5, delta: 1e-5))
        #expect(report.rows.allSatisfy { $0.epsilonRDP == .infinity && $0.epsilonPLD == .infinity })
        #expect(report.rows.allSatisfy { $0.budgetLeft == -.infinity })
        #expect(report.curve.first!.epsilonRDP.isFinite)
        let json = String(decoding: try PrivacyReport.encodeJSON(report), as: UTF8.self)
        #expect(json.contains("\"epsilonRDP\" : \"inf\""))
        #expect(json.contains("\"budgetLeft\" : \"-inf\""))
    }

    @Test func budgetLeftIsTakenAtTheBudgetsDelta() throws {
        let entries = (1...4).map { entry(round: UInt64($0), participants: [1]) }
        let sameDelta = try PrivacyReport(entries: entries, delta: 1e-5, budget: PrivacyBudget(epsilon: 20, delta: 1e-5))
        let row = sameDelta.rows[1]
        #expect(row.budgetEpsilon == 20)
        #expect(row.budgetLeft == 20 - row.epsilonRDP)
        // Reported at δ = 1e-3, the budget (δ = 1e-6) is still judged at its own δ.
        let otherDelta = try PrivacyReport(entries: entries, delta: 1e-3, budget: PrivacyBudget(epsilon: 20, delta: 1e-6))
        let atBudget = try PrivacyReport.epsilonRDP(entries: entries, delta: 1e-6)
        #expect(otherDelta.rows[1].budgetLeft == 20 - atBudget)
        #expect(otherDelta.rows[1].epsilonRDP < atBudget)
    }

    @Test func jsonKeepsEveryColumnAndRoundTrips() throws {
        let entries = (1...3).map { entry(round: UInt64($0), participants: [1], shareSigmaSquared: 0.3, l2Sensitivity: 1) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let json = try PrivacyReport.encodeJSON(report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows[0]["participant"] is NSNull)
        #expect(rows[0]["epsilonPLD"] is NSNull)
        #expect(rows[0]["budgetLeft"] is NSNull)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoded = try decoder.decode(PrivacyReport.self, from: Data(json))
        #expect(decoded.rows.map(\.epsilonRDP) == report.rows.map(\.epsilonRDP))
        #expect(decoded.curve.count == report.curve.count)
    }

    @Test func longLedgersGetAboutTwentyFivePLDPointsPerSeries() throws {
        let entries = (1...60).map { entry(round: UInt64($0), participants: [1]) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let federation = report.curve.filter { $0.participant == nil }
        #expect(federation.count == 60)
        let withPLD = federation.filter { $0.epsilonPLD != nil }
        #expect(withPLD.count >= 15 && withPLD.count <= 30)
        // The last point is the row's value; the others come from a coarser grid, close to it.
        #expect(federation.last!.epsilonPLD == report.rows[0].epsilonPLD)
        let point = try #require(withPLD.dropLast().last)
        let coarse = try #require(point.epsilonPLD)
        let rounds = Int(point.roundID) // rounds 1, 2, 3, …: the id is the count
        let fine = try PLDAccountant().epsilon(
            noiseMultiplier: entries[0].effectiveNoiseMultiplier, samplingRate: 1,
            steps: rounds, delta: 1e-5)
        #expect(coarse >= fine * (1 - 1e-9) && coarse <= fine * 1.001, "coarse \(coarse), fine \(fine)")
        #expect(zip(withPLD, withPLD.dropFirst()).allSatisfy { $0.epsilonPLD! <= $1.epsilonPLD! })
        #expect(withPLD.allSatisfy { $0.epsilonPLD! <= $0.epsilonRDP })
    }
}
