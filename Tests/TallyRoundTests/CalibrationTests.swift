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
}
