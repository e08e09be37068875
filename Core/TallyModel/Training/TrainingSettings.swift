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
