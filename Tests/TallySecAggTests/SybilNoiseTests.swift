import TallyCore
import Testing

@testable import TallySecAgg

/// Sybil participants of the coordinator add no noise. Any sum it can unmask holds at least t
/// inputs, of which at most c are its own; noise shares sized for t − c honest participants keep
/// the planned noise (zΔ₂)² in that sum. Shares sized for t — no collusion margin in the noise —
/// fall short by (t − c)/t: the positive control, measured on the decoded sum of a real round.
@Suite struct SybilNoiseTests {
    @Test(arguments: [true, false])
    func sybilsAddingNoNoiseCannotThinTheNoise(sharesSizedForTheMargin: Bool) async throws {
        let n = 10, c = 2, d = 4096
        let (config, _) = try configuration(n: n, collusionMargin: c, dimension: d)
        let t = config.threshold // 7
        let dp = try DistributedDPConfiguration(
            parameterCount: d, clipNorm: 1, noiseMultiplier: 1, valueBits: 16,
            threshold: t, collusionMargin: sharesSizedForTheMargin ? c : 0, cohortSize: n)
        let seed = [UInt8](repeating: 3, count: 32)
        let encoder = try DistributedDPEncoder(configuration: dp, rotationSeed: seed)
        // The smallest sum it can unmask: t members, c of them sybils sending a noise-free zero.
        let taking = Array(config.cohort.prefix(t))
        let sybils = Set(taking.prefix(c))
        var inputs: [ParticipantID: PackedVector] = [:]
        for id in taking {
            inputs[id] =
                sybils.contains(id)
                ? PackedVector(zeros: config.layout)
                : try encoder.encode([Float](repeating: 0, count: d), random: SystemRandom()).packed(slotWidth: config.layout.slotWidth)
        }
        let frozen = inputs
        let drops = Dictionary(
            uniqueKeysWithValues: config.cohort.dropFirst(t).map { ($0, RoundSimulator.DropStage.beforeAdvertisingKeys) })
        let outcome = try await RoundSimulator(configuration: config, seed: [9]).run(input: { frozen[$0]! }, drops: drops)
        let result = try outcome.result.get()
        #expect(result.contributors == taking)
        // Every honest update is zero: the decoded sum is the noise the coordinator sees.
        let noise = try DistributedDPDecoder(configuration: dp, rotationSeed: seed).decodeSum(result.sum, contributors: t).values
        let variance = noise.reduce(0) { $0 + $1 * $1 } / Double(d)
        let planned = (dp.noiseMultiplier * dp.l2Sensitivity / dp.scale) * (dp.noiseMultiplier * dp.l2Sensitivity / dp.scale)
        let ratio = variance / planned // relative standard error √(2/d) ≈ 2.2%
        if sharesSizedForTheMargin {
            // 5 standard errors below 1 (a false alarm about once in 10^6 runs); the weakness it
            // guards against leaves (t − c)/t, 8 standard errors lower still.
            #expect(ratio > 0.89, "noise variance \(ratio) of planned with \(c) sybils")
        } else {
            #expect(
                ratio < 0.8 && abs(ratio - Double(t - c) / Double(t)) < 0.08,
                "noise variance \(ratio) of planned; expected about \(t - c)/\(t)")
        }
    }
}
