import TallyCore
import TallyLedger
import TallyModel
import TallyRound
import TallySecAgg
import Testing

/// z is calibrated with the ledger's own bound: the ε a participant's budget enforces and its
/// report prints is the ε the calibration aimed at.
@Suite struct CalibrationTests {
    /// What a participant's ledger says after `rounds` rounds of a plan of `n` members at z.
    func ledgerEpsilon(_ policy: RoundPolicy, z: Double, n: Int, rounds: Int, parameterCount: Int) throws -> Double {
        var policy = policy
        policy.noiseMultiplier = z
        let members = (1...n).map { (id: ParticipantID(UInt32($0)), certificate: "c") }
        let agreement = try RoundAgreement.plan(
            roundID: 1, members: members,
            model: (hash: [UInt8](repeating: 1, count: 32), parameterCount: parameterCount, compressedBytes: 1),
            policy: policy)
        let entry = agreement.ledgerEntry(agreement.participantCharge(ParticipantID(1)), modelVersion: nil, modelHash: "m", recordedAt: 0)
        return try PrivacyReport.epsilonRDP(entries: Array(repeating: entry, count: rounds), delta: 1e-5)
    }

    @Test func theCalibratedNoiseMeetsTheTargetByTheLedgersBoundAndNoLess() throws {
        let policy = RoundHarness.policy()
        let z = try policy.calibratedNoiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, rounds: 10, cohortSizes: [5, 20],
            parameterCount: 7850
        ).noiseMultiplier
        for n in [5, 20] {
            #expect(try ledgerEpsilon(policy, z: z, n: n, rounds: 10, parameterCount: 7850) <= 10)
        }
        let justBelow = max(
            try ledgerEpsilon(policy, z: z * 0.995, n: 5, rounds: 10, parameterCount: 7850),
            try ledgerEpsilon(policy, z: z * 0.995, n: 20, rounds: 10, parameterCount: 7850))
        #expect(justBelow > 10, "0.5% less noise must overspend: the calibration is tight")
        // τ·d vanishes wherever the encoder accepts the plan (it refuses value bits that leave the
        // noise no room, where τ·d would matter): the continuous Gaussian's answer is the same z.
        let gaussian = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, samplingRate: 1, steps: 10,
            accountant: RDPAccountant()
        ).noiseMultiplier
        #expect(abs(z / gaussian - 1) < 0.005, "ledger z \(z), Gaussian z \(gaussian)")
    }

    @Test func aBenchmarkPolicyWithoutMaskingCalibratesTheSameNoise() throws {
        // Its rounds are charged ε = ∞ whatever z is; the noise it adds is still the calibrated one.
        let masked = try RoundHarness.policy().calibratedNoiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, rounds: 4, cohortSizes: [10],
            parameterCount: 1000)
        let unmasked = try RoundHarness.policy(unmasked: true).calibratedNoiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, rounds: 4,
            cohortSizes: [10], parameterCount: 1000)
        #expect(masked == unmasked)
    }

    @Test func aRestartCountsWhatTheLedgerAlreadyHolds() throws {
        let policy = RoundHarness.policy()
        let fresh = try policy.calibratedNoiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, rounds: 10, cohortSizes: [20], parameterCount: 7850)
        // Five of the ten rounds ran before a restart: the other five must fit in what is left.
        var planned = policy
        planned.noiseMultiplier = fresh.noiseMultiplier
        let members = (1...20).map { (id: ParticipantID(UInt32($0)), certificate: "c") }
        let agreement = try RoundAgreement.plan(
            roundID: 1, members: members, model: (hash: [UInt8](repeating: 1, count: 32), parameterCount: 7850, compressedBytes: 1),
            policy: planned)
        let ran = Array(
            repeating: agreement.ledgerEntry(
                agreement.participantCharge(ParticipantID(1)), modelVersion: nil, modelHash: "m", recordedAt: 0), count: 5)
        let resumed = try policy.calibratedNoiseMultiplier(
            targetEpsilon: 10, delta: 1e-5, rounds: 5, cohortSizes: [20], parameterCount: 7850, spent: ran)
        #expect(
            abs(resumed.noiseMultiplier / fresh.noiseMultiplier - 1) < 0.01,
            "the same plan, resumed: \(resumed.noiseMultiplier) vs \(fresh.noiseMultiplier)")
        let total = try PrivacyReport.epsilonRDP(
            entries: ran + Array(repeating: try ledgerEntry(policy, z: resumed.noiseMultiplier, n: 20, parameterCount: 7850), count: 5),
            delta: 1e-5)
        #expect(total <= 10)
        // The positive control: calibrating the five as if nothing had run overspends the target.
        let naive = try policy.calibratedNoiseMultiplier(targetEpsilon: 10, delta: 1e-5, rounds: 5, cohortSizes: [20], parameterCount: 7850)
        let overspent = try PrivacyReport.epsilonRDP(
            entries: ran + Array(repeating: try ledgerEntry(policy, z: naive.noiseMultiplier, n: 20, parameterCount: 7850), count: 5),
            delta: 1e-5)
        #expect(overspent > 10)
        // Fifteen ran (a target overspent through aborted rounds): nothing more fits, and the error says so.
        let error = #expect(throws: TallyError.self) {
            try policy.calibratedNoiseMultiplier(
                targetEpsilon: 10, delta: 1e-5, rounds: 1, cohortSizes: [20], parameterCount: 7850, spent: ran + ran + ran)
        }
        #expect(error?.code == .privacyBudgetExhausted)
    }

    /// `tally-audit calibrate --sampling-rate q` plans a record-level federation with the bound its
    /// coordinator calibrates with and its ledger enforces (``EnforcedRDPAccountant``): the same z.
    /// The tight sampled-Gaussian RDP, proven for the continuous Gaussian only, gives a smaller z
    /// that the enforced bound puts above target (the control that the two differ at all).
    @Test func theAuditsRecordLevelPlanIsTheCoordinatorsCalibration() throws {
        var policy = RoundHarness.policy()
        policy.valueBits = 30
        policy.records = try .init(samplingRate: 0.07, expectedBatchSize: 4096)
        let coordinator = try policy.calibratedNoiseMultiplier(
            targetEpsilon: 3, delta: 1e-5, rounds: 300, cohortSizes: [20], parameterCount: 7850
        ).noiseMultiplier
        let audit = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: 3, delta: 1e-5, samplingRate: 0.07, steps: 300, accountant: EnforcedRDPAccountant()
        ).noiseMultiplier
        #expect(abs(coordinator / audit - 1) < 0.005, "coordinator z \(coordinator), audit z \(audit)")
        let tight = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: 3, delta: 1e-5, samplingRate: 0.07, steps: 300, accountant: RDPAccountant()
        ).noiseMultiplier
        #expect(tight < 0.8 * audit, "sampled-Gaussian z \(tight) vs enforced \(audit)")
        #expect(try ledgerEpsilon(policy, z: tight, n: 20, rounds: 300, parameterCount: 7850) > 3)
        // Unsampled, the enforced bound is the Gaussian RDP itself.
        for z in [0.7, 2.0, 9.0] {
            let enforced = try EnforcedRDPAccountant().epsilon(noiseMultiplier: z, samplingRate: 1, steps: 10, delta: 1e-5)
            let gaussian = try RDPAccountant().epsilon(noiseMultiplier: z, samplingRate: 1, steps: 10, delta: 1e-5)
            #expect(abs(enforced / gaussian - 1) < 1e-9)
        }
    }

    /// A federation whose first round measures the standardization's moments (a vector of
    /// 1 + 2d values, not the model's parameters) is calibrated with that round charged as its
    /// own plan derives it: its ledger, moments entry first, stays within the target.
    /// (Tightness is the first test's; here the two kinds of entry cost the same.)
    @Test func aMomentsRoundIsChargedAsItsOwnPlan() throws {
        for records in [nil, try DistributedDPConfiguration.RecordSampling(samplingRate: 0.07, expectedBatchSize: 4096)] {
            var policy = RoundHarness.policy()
            policy.records = records
            if records != nil { policy.valueBits = 30 }
            let (rounds, parameters, moments) = (10, 7850, 1 + 2 * 784)
            let z = try policy.calibratedNoiseMultiplier(
                targetEpsilon: 3, delta: 1e-5, rounds: rounds, cohortSizes: [20], parameterCount: parameters,
                firstRoundVectorLength: moments
            ).noiseMultiplier
            let first = try ledgerEntry(policy, z: z, n: 20, parameterCount: moments)
            let training = try ledgerEntry(policy, z: z, n: 20, parameterCount: parameters)
            #expect(first.dimension != training.dimension, "the moments round has its own dimension")
            let ledger = [first] + Array(repeating: training, count: rounds - 1)
            #expect(try PrivacyReport.epsilonRDP(entries: ledger, delta: 1e-5) <= 3)
            // Each plan sizes its shares' σ² from z·Δ₂ of its own vector, so at the same z a moments
            // round costs what a training round costs, to within 1%: measuring the moments takes
            // one round's share of the budget, no more.
            let one = try PrivacyReport.epsilonRDP(entries: [first], delta: 1e-5)
            let other = try PrivacyReport.epsilonRDP(entries: [training], delta: 1e-5)
            #expect(abs(one / other - 1) < 0.01, "moments round ε \(one), training round ε \(other)")
        }
    }

    func ledgerEntry(_ policy: RoundPolicy, z: Double, n: Int, parameterCount: Int) throws -> LedgerEntry {
        var policy = policy
        policy.noiseMultiplier = z
        let members = (1...n).map { (id: ParticipantID(UInt32($0)), certificate: "c") }
        let agreement = try RoundAgreement.plan(
            roundID: 1, members: members,
            model: (hash: [UInt8](repeating: 1, count: 32), parameterCount: parameterCount, compressedBytes: 1), policy: policy)
        return agreement.ledgerEntry(agreement.participantCharge(ParticipantID(1)), modelVersion: nil, modelHash: "m", recordedAt: 0)
    }
}
