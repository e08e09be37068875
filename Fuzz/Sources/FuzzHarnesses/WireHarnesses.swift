import Foundation
import SwiftProtobuf
import TallyCore
import TallyModel
import TallyRound
import TallySecAgg
import TallyWire

extension Harness {
    /// The protobuf entry points: every message either side receives, decoded as the gRPC
    /// deserializer does, and a round plan through `parameters()` and `RoundAgreement`.
    public static let wireProtobuf = Harness(name: "fuzz-wire-protobuf", run: WireFuzz.run, seeds: WireFuzz.seeds)

    /// Chunk assembly: a stream of secure-aggregation and model chunks (each a protobuf message)
    /// through `ChunkAssembler`, and each whole payload through its decoder (zstd and safetensors
    /// for a model, the message decoders for secure aggregation).
    public static let chunks = Harness(name: "fuzz-chunks", run: ChunkFuzz.run, seeds: ChunkFuzz.seeds)
}

enum WireFuzz {
    @Sendable static func run(_ bytes: [UInt8]) {
        if let message = try? Tally_V1_CoordinatorMessage(serializedBytes: bytes) {
            if case .plan(let plan) = message.body { checkPlan(plan) }
            _ = try? message.serializedBytes() as [UInt8]
        }
        if let message = try? Tally_V1_ParticipantMessage(serializedBytes: bytes) {
            _ = try? message.serializedBytes() as [UInt8]
        }
        _ = try? Tally_V1_PulledModelChunk(serializedBytes: bytes)
        _ = try? Tally_V1_PullModelRequest(serializedBytes: bytes)
        _ = try? Tally_V1_ModelList(serializedBytes: bytes)
        // A plan on its own, with its digest as sent and with the digest of its contents (so the
        // fuzzer reaches the checks after the digest).
        if let plan = try? Tally_V1_RoundPlan(serializedBytes: bytes) {
            checkPlan(plan)
            var fixed = plan
            if let digest = digest(of: plan) {
                fixed.planDigest = Data(digest)
                checkPlan(fixed)
            }
        }
    }

    static func checkPlan(_ plan: Tally_V1_RoundPlan) {
        guard let parameters = try? plan.parameters() else { return }
        for count in Set([10, min(parameters.dimension, 1 << 12)]) {
            _ = try? RoundAgreement(parameters: parameters, parameterCount: count)
        }
    }

    /// The digest `parameters()` expects: the plan's fields as it reads them.
    static func digest(of plan: Tally_V1_RoundPlan) -> [UInt8]? {
        guard plan.compressedModelBytes <= UInt64(RoundParameters.maxCompressedModelBytes), plan.dimension <= UInt64(1 << 32),
            plan.expectedBatchSize <= UInt64(DistributedDPConfiguration.RecordSampling.maxExpectedBatchSize)
        else { return nil }
        var records: DistributedDPConfiguration.RecordSampling?
        if plan.recordSamplingRate != 0 || plan.expectedBatchSize != 0 {
            guard
                let sampling = try? DistributedDPConfiguration.RecordSampling(
                    samplingRate: plan.recordSamplingRate, expectedBatchSize: Int(plan.expectedBatchSize))
            else { return nil }
            records = sampling
        }
        return RoundParameters(
            roundID: plan.roundID, modelHash: [UInt8](plan.modelHash), training: TrainingSettings(plan.training),
            cohort: plan.cohort.map { ParticipantID($0) },
            cohortCertificates: plan.cohortCertificates.map { String(decoding: $0, as: UTF8.self) },
            threshold: Int(plan.threshold), collusionMargin: Int(plan.collusionMargin), valueBits: Int(plan.valueBits),
            slotWidth: Int(plan.slotWidth), dimension: Int(plan.dimension),
            graph: plan.neighbourDegree == 0 ? .complete : .harary(degree: Int(plan.neighbourDegree)),
            clipNorm: plan.clipNorm, noiseMultiplier: plan.noiseMultiplier, stageTimeoutMilliseconds: plan.stageTimeoutMs,
            maskedInputDelayMilliseconds: plan.maskedInputDelayMs, compressedModelBytes: Int(plan.compressedModelBytes),
            unmasked: plan.insecureUnmasked, records: records
        ).digest
    }

    /// A plan as the coordinator makes one (RoundAgreement.plan), for three and for five members.
    static func plan(members: Int, records: Bool) -> Tally_V1_RoundPlan {
        let policy = RoundPolicy(
            collusionMargin: 1, valueBits: records ? 24 : 16, clipNorm: 1, noiseMultiplier: 1, stageTimeoutMilliseconds: 30_000,
            maskedInputDelayMilliseconds: 0, dropoutRate: 0.1, corruptionRate: 0, training: TrainingSettings(), unmasked: false,
            records: records ? try! DistributedDPConfiguration.RecordSampling(samplingRate: 0.01, expectedBatchSize: 64) : nil)
        let agreement = try! RoundAgreement.plan(
            roundID: 4, members: (1...members).map { (ParticipantID(UInt32($0)), "certificate \($0)") },
            model: (hash: [UInt8](repeating: 7, count: 32), parameterCount: 10, compressedBytes: 100), policy: policy)
        return Tally_V1_RoundPlan(agreement.parameters, manifest: Array("{}".utf8), manifestSignature: [1, 2, 3])
    }

    @Sendable static func seeds() -> [(name: String, bytes: [UInt8])] {
        func bytes(_ message: some SwiftProtobuf.Message) -> [UInt8] { try! message.serializedBytes() }
        let chunk = Tally_V1_SecAggMessage.chunks(round: 4, kind: .maskedInput, payload: [1, 2, 3, 4])[0]
        return [
            ("plan-3", bytes(Tally_V1_CoordinatorMessage.with { $0.plan = plan(members: 3, records: false) })),
            ("plan-5-records", bytes(Tally_V1_CoordinatorMessage.with { $0.plan = plan(members: 5, records: true) })),
            ("plan-alone", bytes(plan(members: 4, records: false))),
            ("coordinator-secagg", bytes(Tally_V1_CoordinatorMessage.with { $0.secagg = chunk })),
            (
                "coordinator-model",
                bytes(
                    Tally_V1_CoordinatorMessage.with {
                        $0.model = .with { m in
                            m.roundID = 4; m.count = 1; m.data = Data([1, 2])
                        }
                    })
            ),
            (
                "coordinator-end",
                bytes(
                    Tally_V1_CoordinatorMessage.with {
                        $0.end = .with { e in
                            e.roundID = 4; e.released = true; e.reason = "done"
                        }
                    })
            ),
            (
                "participant-hello",
                bytes(
                    Tally_V1_ParticipantMessage.with {
                        $0.hello = .with { h in
                            h.protocolVersion = 1; h.epsilonRemaining = 3
                        }
                    })
            ),
            (
                "participant-decline",
                bytes(
                    Tally_V1_ParticipantMessage.with {
                        $0.decline = .with { d in
                            d.roundID = 4; d.code = "budget"; d.reason = "no"
                        }
                    })
            ),
            ("participant-secagg", bytes(Tally_V1_ParticipantMessage.with { $0.secagg = chunk })),
            (
                "pulled-model-chunk",
                bytes(
                    Tally_V1_PulledModelChunk.with {
                        $0.manifest = Data("{}".utf8); $0.index = 0; $0.count = 1; $0.data = Data([9])
                    })
            ),
        ]
    }
}

enum ChunkFuzz {
    /// Small limits, so the fuzzer reaches them.
    static let maxTotalBytes = 1 << 14
    static let maxChunks = 16

    /// The input: a sequence of (u16 little-endian length, protobuf `CoordinatorMessage`).
    @Sendable static func run(_ bytes: [UInt8]) {
        var secagg = ChunkAssembler(maxTotalBytes: maxTotalBytes, maxChunks: maxChunks)
        var model = ChunkAssembler(maxTotalBytes: maxTotalBytes, maxChunks: maxChunks)
        var rest = bytes[...]
        while rest.count >= 2 {
            let length = Int(rest[rest.startIndex]) | Int(rest[rest.startIndex + 1]) << 8
            let body = rest.dropFirst(2).prefix(length)
            rest = rest.dropFirst(2 + body.count)
            guard let message = try? Tally_V1_CoordinatorMessage(serializedBytes: Array(body)) else { continue }
            switch message.body {
            case .secagg(let chunk):
                guard let whole = try? chunk.assemble(into: &secagg) else { continue }
                decode(whole.0, whole.1)
            case .model(let chunk):
                guard
                    let compressed = try? model.add(
                        round: chunk.roundID, kind: 0, index: chunk.index, count: chunk.count, data: [UInt8](chunk.data))
                else { continue }
                guard let blob = try? Zstd.decompress(compressed, maxOutputBytes: 1 << 16) else { continue }
                if let file = try? SafeTensors(serialized: blob) { _ = try? ModelState(safeTensors: file) }
            default:
                continue
            }
        }
    }

    static func decode(_ kind: MessageKind, _ payload: [UInt8]) {
        switch kind {
        case .keyAdvertisement: _ = try? KeyAdvertisement(serialized: payload)
        case .keyDirectory: _ = try? KeyDirectory(serialized: payload)
        case .encryptedShares: _ = try? EncryptedShares(serialized: payload)
        case .shareDelivery: _ = try? ShareDelivery(serialized: payload)
        case .maskedInput: _ = try? MaskedInput(serialized: payload, layout: SecAggFuzz.layouts[0])
        case .unmaskRequest: _ = try? UnmaskRequest(serialized: payload)
        case .unmaskResponse: _ = try? UnmaskResponse(serialized: payload)
        case .consistencyRequest: _ = try? ConsistencyRequest(serialized: payload)
        case .consistencySignature: _ = try? ConsistencySignature(serialized: payload)
        }
    }

    static func frame(_ messages: [Tally_V1_CoordinatorMessage]) -> [UInt8] {
        var out: [UInt8] = []
        for message in messages {
            let body: [UInt8] = try! message.serializedBytes()
            out += [UInt8(body.count & 0xFF), UInt8(body.count >> 8)] + body
        }
        return out
    }

    @Sendable static func seeds() -> [(name: String, bytes: [UInt8])] {
        let advertisement = SecAggFuzz.seeds().first { $0.name == "key-advertisement" }!.bytes
        let secagg = Tally_V1_SecAggMessage.chunks(round: 4, kind: .keyAdvertisement, payload: advertisement, chunkBytes: 40)
        let model = try! ModelState.initial(.logisticRegression(featureCount: 3, classCount: 2), seed: 1).safeTensors().serialized()
        let compressed = try! Zstd.compress(model)
        let modelChunks = MessageChunking.split(compressed, chunkBytes: 100).enumerated().map { i, piece in
            Tally_V1_CoordinatorMessage.with {
                $0.model = .with { m in
                    m.roundID = 4; m.index = UInt32(i); m.count = UInt32((compressed.count + 99) / 100); m.data = Data(piece)
                }
            }
        }
        return [
            ("secagg-in-chunks", frame(secagg.map { chunk in Tally_V1_CoordinatorMessage.with { $0.secagg = chunk } })),
            ("model-in-chunks", frame(modelChunks)),
        ]
    }
}
