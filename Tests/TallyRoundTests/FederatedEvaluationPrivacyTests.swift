import TallyCore
import TallyModel
import TallyRound
import TallySecAgg
import Testing

/// The coordinator learns the federation's evaluation, never one organization's: the evaluation
/// sums are coordinates of the same masked vector as the update. Here the coordinator's attack is
/// to decode one participant's input on its own, from everything it received; it recovers that
/// organization's accuracy when the round is unmasked (the positive control, a benchmark plan) and
/// nothing when it is masked, while the released sum still gives the federation's accuracy.
@Suite struct FederatedEvaluationPrivacyTests {
    static let (updateCount, classes) = (10, 2)
    static let evaluation = FederatedEvaluation()

    /// Organization i scored `records` held-out records with `accuracy`: its record-unit sums.
    static func sums(records: Double, accuracy: Double) -> [Double] {
        let c = evaluation.recordScale(clipNorm: 1, recordUnit: true)
        return [
            records * c, records * accuracy * c, 0.3 * records * c, records / 2 * c, records / 2 * c,
            records / 2 * accuracy * c, records / 2 * accuracy * c,
        ]
    }

    /// A record-level plan (no rotation) over the update and the evaluation part, and each of 5
    /// participants' encoded input; organization i has accuracy 0.5 + 0.1·i on 200 records.
    static func round(unmasked: Bool) throws -> (RoundHarness, [ParticipantID: Double]) {
        var policy = RoundHarness.policy(unmasked: unmasked)
        policy.valueBits = 30
        policy.records = try .init(samplingRate: 0.1, expectedBatchSize: 100)
        let members = (1...5).map { (id: ParticipantID(UInt32($0)), certificate: "certificate of \($0)") }
        let agreement = try RoundAgreement.plan(
            roundID: 1, members: members,
            model: (
                hash: SHA256Digest.hash(Array("model".utf8)),
                parameterCount: updateCount + FederatedEvaluation.length(classCount: classes), compressedBytes: 100
            ),
            policy: policy)
        var harness = try RoundHarness(agreement: agreement)
        var truth: [ParticipantID: Double] = [:]
        for id in harness.ids {
            let accuracy = 0.5 + 0.1 * Double(id.rawValue - 1)
            truth[id] = accuracy
            let vector = [Double](repeating: 0.01, count: updateCount) + sums(records: 200, accuracy: accuracy)
            let encoder = try DistributedDPEncoder(configuration: agreement.privacy, rotationSeed: [1])
            let encoding = try encoder.encode(
                vector, noise: agreement.privacy.sampleNoiseShare(random: SystemRandom()), random: SystemRandom())
            harness.inputs[id] = try encoding.packed(slotWidth: agreement.layout.slotWidth)
        }
        try harness.start()
        return (harness, truth)
    }

    /// The coordinator's best guess at one organization's accuracy from what it received of it.
    static func attack(_ harness: RoundHarness, _ id: ParticipantID) throws -> Double? {
        let input = try #require(harness.received[id])
        let decoded = try DistributedDPDecoder(configuration: harness.machine.agreement.privacy, rotationSeed: [1])
            .decodeSum(input.vector, contributors: 1)
        return FederatedEvaluation.metrics(
            fromSum: Array(decoded.values[updateCount...]), scale: evaluation.recordScale(clipNorm: 1, recordUnit: true))?.accuracy
    }

    /// How close a guess must come to count as read off. An unmasked input carries its own noise
    /// share, which moves the guess by 0.008 (root mean square over 200 guesses, up to 0.025); a
    /// masked input decoded no metric or one at least 0.6 away in as many. 0.1 separates the two.
    static let readOff = 0.1

    @Test func withoutMaskingOneOrganizationsAccuracyIsReadOffItsInput() throws {
        let (harness, truth) = try Self.round(unmasked: true)
        for id in harness.ids {
            let guess = try #require(try Self.attack(harness, id))
            #expect(abs(guess - truth[id]!) < Self.readOff, "participant \(id.rawValue): guessed \(guess), true \(truth[id]!)")
        }
    }

    @Test func withMaskingOnlyTheFederationsAccuracyIsLearned() throws {
        let (harness, truth) = try Self.round(unmasked: false)
        let aggregate = try #require(harness.aggregate)
        #expect(aggregate.contributors.count == 5)
        for id in harness.ids {
            // A masked input decodes to noise: no metric, or one unrelated to the organization's.
            let guess = try Self.attack(harness, id)
            #expect(
                guess.map { abs($0 - truth[id]!) > Self.readOff } ?? true,
                "participant \(id.rawValue): guessed \(String(describing: guess))")
        }
        let sum = try DistributedDPDecoder(configuration: harness.machine.agreement.privacy, rotationSeed: [1])
            .decodeSum(aggregate.sum, contributors: 5)
        let recordScale = Self.evaluation.recordScale(clipNorm: 1, recordUnit: true)
        let federation = try #require(FederatedEvaluation.metrics(fromSum: Array(sum.values[Self.updateCount...]), scale: recordScale))
        // Within 6σ of the noise of the five shares: σ on the count is the sum's σ per coordinate
        // over the record scale c; the accuracy Σcorrect/count is off by σ/1000·√(1 + 0.7²).
        let privacy = harness.machine.agreement.privacy
        let countSigma = (5 * privacy.shareSigmaSquared).squareRoot() / privacy.scale / recordScale
        let accuracySigma = countSigma / 1000 * (1 + 0.7 * 0.7).squareRoot()
        #expect(
            abs(federation.accuracy - 0.7) < 6 * accuracySigma,
            "the federation's accuracy \(federation.accuracy), true 0.7, σ \(accuracySigma)")
        #expect(abs(federation.count - 1000) < 6 * countSigma, "the federation's count \(federation.count), σ \(countSigma)")
        // The checks can fail: one organization more or less moves the count by 200.
        #expect(200 > 12 * countSigma)
    }
}
