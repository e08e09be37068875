public import TallyCore

/// Local training settings: chosen by the coordinator, sent in every round plan, recorded in
/// every manifest, and handed to a ``Trainer``. One definition for all three so the numbers a
/// participant trains with are the ones the registry says it trained with.
public struct TrainingSettings: Sendable, Codable, Hashable {
    public var localEpochs = 1
    public var batchSize = 32
    public var learningRate = 0.05
    public var seed: UInt64 = 1

    public init(localEpochs: Int = 1, batchSize: Int = 32, learningRate: Double = 0.05, seed: UInt64 = 1) {
        self.localEpochs = localEpochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }
}

extension TrainingSettings {
    /// The bounds both the coordinator's configuration and every participant's plan check apply,
    /// so a typo is an error naming the key, never a trap inside training. `key` prefixes the
    /// names in the message (`training` in a configuration file, `round plan training` on the wire).
    public func validate(key: String = "training") throws(TallyError) {
        guard (1...10_000).contains(localEpochs) else {
            throw TallyError(.invalidArgument, "\(key).localEpochs must be in 1...10000, got \(localEpochs)")
        }
        guard (1...65_536).contains(batchSize) else {
            throw TallyError(.invalidArgument, "\(key).batchSize must be in 1...65536, got \(batchSize)")
        }
        guard learningRate.isFinite, learningRate > 0 else {
            throw TallyError(.invalidArgument, "\(key).learningRate must be positive and finite, got \(learningRate)")
        }
    }
}
