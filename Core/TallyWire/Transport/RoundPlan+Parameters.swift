import Foundation
public import TallyCore
import TallyModel
public import TallyRound
import TallySecAgg

/// The round plan's protobuf form: only a transport of ``RoundParameters`` plus the signed
/// manifest of the model it names. Nothing is derived from the protobuf message itself.
extension Tally_V1_RoundPlan {
    public init(_ parameters: RoundParameters, manifest: [UInt8], manifestSignature: [UInt8]) {
        self.init()
        roundID = parameters.roundID
        modelHash = Data(parameters.modelHash)
        self.manifest = Data(manifest)
        self.manifestSignature = Data(manifestSignature)
        training = .with {
            $0.localEpochs = UInt32(parameters.training.localEpochs)
            $0.batchSize = UInt32(parameters.training.batchSize)
            $0.learningRate = parameters.training.learningRate
            $0.seed = parameters.training.seed
        }
        cohort = parameters.cohort.map(\.rawValue)
        cohortCertificates = parameters.cohortCertificates.map { Data($0.utf8) }
        threshold = UInt32(parameters.threshold)
        collusionMargin = UInt32(parameters.collusionMargin)
        valueBits = UInt32(parameters.valueBits)
        slotWidth = UInt32(parameters.slotWidth)
        dimension = UInt64(parameters.dimension)
        if case .harary(let k) = parameters.graph { neighbourDegree = UInt32(k) }
        clipNorm = parameters.clipNorm
        noiseMultiplier = parameters.noiseMultiplier
        stageTimeoutMs = parameters.stageTimeoutMilliseconds
        maskedInputDelayMs = parameters.maskedInputDelayMilliseconds
        compressedModelBytes = UInt64(parameters.compressedModelBytes)
        insecureUnmasked = parameters.unmasked
        if let records = parameters.records {
            recordSamplingRate = records.samplingRate
            expectedBatchSize = UInt64(records.expectedBatchSize)
        }
        planDigest = Data(parameters.digest)
    }

    /// The parameters this plan carries, with its digest checked. Sizes are bounded before they
    /// become `Int`s; the rest is checked by ``RoundAgreement/init(parameters:parameterCount:)``.
    public func parameters() throws(TallyError) -> RoundParameters {
        guard compressedModelBytes <= UInt64(RoundParameters.maxCompressedModelBytes), dimension <= UInt64(1 << 32) else {
            throw TallyError(.sizeLimitExceeded, "round plan announces a \(compressedModelBytes)-byte model of dimension \(dimension)")
        }
        var records: DistributedDPConfiguration.RecordSampling?
        if recordSamplingRate != 0 || expectedBatchSize != 0 {
            guard expectedBatchSize <= UInt64(DistributedDPConfiguration.RecordSampling.maxExpectedBatchSize) else {
                throw TallyError(.sizeLimitExceeded, "round plan announces an expected batch of \(expectedBatchSize) records")
            }
            records = try DistributedDPConfiguration.RecordSampling(
                samplingRate: recordSamplingRate, expectedBatchSize: Int(expectedBatchSize))
        }
        let parameters = RoundParameters(
            roundID: roundID, modelHash: [UInt8](modelHash),
            training: TrainingSettings(training),
            cohort: cohort.map { ParticipantID($0) },
            cohortCertificates: cohortCertificates.map { String(decoding: $0, as: UTF8.self) },
            threshold: Int(threshold), collusionMargin: Int(collusionMargin), valueBits: Int(valueBits),
            slotWidth: Int(slotWidth), dimension: Int(dimension),
            graph: neighbourDegree == 0 ? .complete : .harary(degree: Int(neighbourDegree)),
            clipNorm: clipNorm, noiseMultiplier: noiseMultiplier, stageTimeoutMilliseconds: stageTimeoutMs,
            maskedInputDelayMilliseconds: maskedInputDelayMs, compressedModelBytes: Int(compressedModelBytes),
            unmasked: insecureUnmasked, records: records)
        guard parameters.digest == [UInt8](planDigest) else {
            throw TallyError(.integrityFailure, "round plan digest does not match its contents")
        }
        return parameters
    }
}
