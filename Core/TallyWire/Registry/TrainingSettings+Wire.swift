import TallyModel

extension TrainingSettings {
    /// The settings a round plan carries. Values are taken as sent; the ``Trainer`` refuses
    /// ones it cannot train with.
    public init(_ wire: Tally_V1_TrainingConfig) {
        self.init(
            localEpochs: Int(wire.localEpochs), batchSize: Int(wire.batchSize),
            learningRate: wire.learningRate, seed: wire.seed)
    }
}
