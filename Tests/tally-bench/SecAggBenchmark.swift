import ArgumentParser
import TallyCore
import TallySecAgg

/// `tally-bench secagg --participants N --dimension D --dropout F --json`: one in-process round
/// through the real state machines and wire encodings, with raw AES-CTR measured in the same run.
struct SecAggBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secagg",
        abstract: "A secure-aggregation round in-process: per-stage times, bytes, and ratios to raw AES-CTR.")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Participants n.") var participants = 10
    @Option(help: "Dimension d.") var dimension = 100_000
    @Option(help: "Fraction of participants that drop after sharing keys, before sending their masked input.") var dropout = 0.0
    @Option(help: "Bits per input coordinate b (slot width is b + ⌈log2 n⌉).") var valueBits = 16
    @Option(
        help:
            "Graph: complete (default, as Flower's comparison needs), or auto (SecAgg+ parameters from n, the dropout rate and --corruption)."
    ) var graph = "complete"
    @Option(help: "Fraction of participants assumed to collude with the coordinator (for --graph auto).") var corruption = 0.05
    @Option(help: "Participants simulated concurrently.") var parallelism = 2
    @Option(help: "Colluding participants tolerated, c (threshold ⌊(m + c)/2⌋ + 1, as the coordinator plans).") var collusionMargin = 1

    struct Report: Encodable {
        let benchmark = "secagg"
        let machine = MachineInfo()
        let participants: Int, dimension: Int, dropout: Double, slotWidth: Int
        let graph: String, neighbourDegree: Int, threshold: Int, collusionMargin: Int
        let contributors: Int, dropped: Int, exactSumVerified: Bool
        let roundWallSeconds: Double
        /// Per participant (mean over participants): seconds per stage.
        let participantStageSeconds: [String: Double]
        /// Encode (pack) + self mask + all pairwise masks, mean per participant.
        let participant_masking_seconds: Double
        let coordinatorStageSeconds: [String: Double]
        let coordinator_unmask_seconds: Double
        /// The consistency check (participants check and sign the lists, the coordinator verifies
        /// and forwards the signatures; participants verify t of them in the unmask stage, which
        /// is included in `participantStageSeconds["unmask"]`): its own stage, per participant
        /// plus the coordinator, and as a ratio to the rest of the round (the same sum of
        /// per-participant stage means and coordinator steps, without it).
        let consistencyStageSeconds: Double
        let consistencyOverRestOfRound: Double
        let upload_bytes_per_participant: Double
        let bytesSentPerParticipant: Double, bytesReceivedPerParticipant: Double
        /// Raw EVP AES-128-CTR for the same number of mask bytes one participant expands.
        let masksPerParticipant: Double, maskBytesPerParticipant: Double
        let rawAESCTRGBps: Double, rawKeystreamSecondsForParticipantMaskBytes: Double
        let maskingToKeystreamRatio: Double
        /// Pack, all masks (chunk-major) and serialization timed on their own (best of 5).
        let maskingBreakdownSeconds: [String: Double]
        /// Bytes of a plaintext int64 vector (Flower's encoding) over our upload.
        let int64UploadOverOurs: Double
        /// The distributed-DP encoding of one participant's update (clip, rotate, scale, round,
        /// clamp the signal) with and without its exact discrete Gaussian noise share (z = 1, this t and n).
        let dpEncodeSeconds: Double, dpEncodeWithoutNoiseSeconds: Double
        /// (DP encode with noise + pack + all masks) over the raw keystream for the mask bytes:
        /// the brief's "participant masking" ratio with the noise included.
        let encodeNoisePackMasksToKeystreamRatio: Double
    }

    func run() async throws {
        let n = participants
        let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: n)
        let layout = try SlotLayout(slotWidth: width, count: dimension)
        var kind = NeighbourGraph.Kind.complete
        var threshold = SecAggConfiguration.minimumThreshold(neighbourhood: n, collusionMargin: collusionMargin)
        if graph == "auto" {
            let choice = try SecAggPlusParameters.choose(cohortSize: n, dropoutRate: max(dropout, 0.05), corruptionRate: corruption)
            kind = choice.graph
            let m = kind.neighbourhoodSize(cohortSize: n)
            threshold = max(choice.threshold, SecAggConfiguration.minimumThreshold(neighbourhood: m, collusionMargin: collusionMargin))
        } else if graph != "complete" {
            throw ValidationError("--graph is complete or auto")
        }
        let cohort = (1...n).map { ParticipantID(UInt32($0)) }
        let config = try SecAggConfiguration(
            roundID: 1, cohort: cohort, threshold: threshold, collusionMargin: collusionMargin,
            layout: layout, graph: kind)
        let simulator = try RoundSimulator(configuration: config)

        // Inputs: random b-bit values, packed inside the masking measurement (the encode step).
        let random = SeededRandom(testSeed: 1)
        let valueMask: UInt64 = (1 << UInt64(valueBits)) - 1
        let values: [UInt64] = (0..<dimension).map { _ in random.nextWord() & valueMask }
        let expected = values.map { $0 * UInt64(n) }
        let dropCount = Int((Double(n) * dropout).rounded())
        let drops = Dictionary(uniqueKeysWithValues: cohort.suffix(dropCount).map { ($0, RoundSimulator.DropStage.beforeMaskedInput) })
        let start = ContinuousClock.now
        let outcome = await simulator.run(
            input: { _ in try! PackedVector(packing: values, slotWidth: width) },
            drops: drops, parallelism: parallelism)
        let wall = ContinuousClock.now - start
        let result = try outcome.result.get()
        let verified = result.sum.unpacked() == expected.map { $0 / UInt64(n) * UInt64(result.contributors.count) }

        // Mean over participants that ran each stage.
        var stageTotals: [String: (Double, Int)] = [:]
        var sent = 0.0, received = 0.0
        for report in outcome.participants.values {
            for (stage, s) in report.seconds { stageTotals[stage, default: (0, 0)].0 += s; stageTotals[stage, default: (0, 0)].1 += 1 }
            sent += Double(report.bytesSent)
            received += Double(report.bytesReceived)
        }
        let stageMeans = stageTotals.mapValues { $0.0 / Double($0.1) }
        let masking = stageMeans["maskedInput"] ?? 0
        let survivorsOfStage2 = n - 0 // everyone shares keys in this benchmark
        let neighbours = Double(kind.neighbourhoodSize(cohortSize: n) - 1)
        let pairwiseMasks = neighbours * Double(survivorsOfStage2 - 0) / Double(n)
        let masksPerParticipant = 1 + pairwiseMasks
        let maskBytes = masksPerParticipant * Double(layout.limbCount * 8)

        var buffer = [UInt8](repeating: 0, count: layout.limbCount * 8)
        let rawPerMask = buffer.withUnsafeMutableBytes { MachineLimits.aesCTRSeconds(into: $0, repetitions: 5) }
        let rawKeystream = rawPerMask * masksPerParticipant
        let upload = Double(MaskedInput(roundID: 1, session: result.session, sender: cohort[0], vector: result.sum).serialized().count)

        // Breakdown of one participant's masking work, measured directly.
        // Pack as a round does: signed values (signal plus noise share) with carries between slots.
        let signedValues = values.map { Int64($0) - Int64(1 << (valueBits - 1)) }
        let packSeconds = try Measure.best { _ = try PackedVector(packingSigned: signedValues, slotWidth: width) }
        let terms = (0..<Int(masksPerParticipant.rounded())).map { i in
            MaskGenerator.Term(seed: random.bytes(32), label: [UInt8(i & 255)], subtract: i % 2 == 1)
        }
        var scratch = try PackedVector(packing: values, slotWidth: width)
        let maskSeconds = try Measure.best { try MaskGenerator.apply(terms, to: &scratch) }
        let serializeSeconds = Measure.best {
            _ = MaskedInput(roundID: 1, session: result.session, sender: cohort[0], vector: scratch).serialized()
        }
        let breakdown = ["pack": packSeconds, "allMasks": maskSeconds, "serialize": serializeSeconds]

        // The DP encoding that produces those values in a real round.
        let update = (0..<dimension).map { _ in Float(Double(random.nextWord() >> 11) * 0x1p-53 - 0.5) }
        func encodeSeconds(z: Double) throws -> Double {
            let dp = try DistributedDPConfiguration(
                parameterCount: dimension, clipNorm: 1, noiseMultiplier: z, valueBits: valueBits,
                threshold: threshold, collusionMargin: collusionMargin, cohortSize: n)
            let encoder = try DistributedDPEncoder(configuration: dp, rotationSeed: random.bytes(32))
            let source = SystemRandom()
            return try Measure.best(repetitions: 3) { _ = try encoder.encode(update, random: source) }
        }
        let dpEncode = try encodeSeconds(z: 1)
        let dpEncodePlain = try encodeSeconds(z: 0)

        let consistency = (stageMeans["consistencyCheck"] ?? 0) + (outcome.coordinatorSeconds["collectSignatures"] ?? 0)
        let whole = stageMeans.values.reduce(0, +) + outcome.coordinatorSeconds.values.reduce(0, +)
        let degree: Int
        switch kind {
        case .complete: degree = n - 1;
        case .harary(let k): degree = k
        }
        try Measure.printJSON(
            Report(
                participants: n, dimension: dimension, dropout: dropout, slotWidth: width,
                graph: kind == .complete ? "complete" : "harary", neighbourDegree: degree, threshold: threshold,
                collusionMargin: collusionMargin,
                contributors: result.contributors.count, dropped: result.dropped.count, exactSumVerified: verified,
                roundWallSeconds: wall.seconds,
                participantStageSeconds: stageMeans, participant_masking_seconds: masking,
                coordinatorStageSeconds: outcome.coordinatorSeconds, coordinator_unmask_seconds: outcome.coordinatorSeconds["unmask"] ?? 0,
                consistencyStageSeconds: consistency, consistencyOverRestOfRound: consistency / (whole - consistency),
                upload_bytes_per_participant: upload,
                bytesSentPerParticipant: sent / Double(n), bytesReceivedPerParticipant: received / Double(n),
                masksPerParticipant: masksPerParticipant, maskBytesPerParticipant: maskBytes,
                rawAESCTRGBps: Double(layout.limbCount * 8) / rawPerMask / 1e9,
                rawKeystreamSecondsForParticipantMaskBytes: rawKeystream,
                maskingToKeystreamRatio: masking / rawKeystream,
                maskingBreakdownSeconds: breakdown,
                int64UploadOverOurs: Double(8 * dimension) / upload,
                dpEncodeSeconds: dpEncode, dpEncodeWithoutNoiseSeconds: dpEncodePlain,
                encodeNoisePackMasksToKeystreamRatio: (dpEncode + packSeconds + maskSeconds) / rawKeystream))
    }
}
