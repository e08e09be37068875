import TallyCore
import TallyModel

/// This organization's training examples: its Dirichlet partition of Fashion-MNIST.
public struct LocalData: Sendable {
    /// nil for the no-op trainer, which uses no data.
    public let train: Dataset?
    public let indices: [Int]
    /// What the no-op trainer reports as its example count.
    static let noopExamples = 1 << 30

    /// No data (the no-op trainer of the round benchmark).
    public static let none = LocalData()

    private init() {
        train = nil
        indices = []
    }

    public init(source: ParticipantConfiguration.DataSource) throws(TallyError) {
        let train = try FashionMNIST.loadSplit(directory: source.fashionMNISTDirectory, prefix: "train")
        let partition = try DirichletPartition(
            labels: train.labels, classCount: FashionMNIST.classCount,
            organizations: source.organizations, alpha: source.alpha, seed: source.seed)
        self.train = train
        self.indices = partition.indices[source.index]
    }

    public var exampleCount: Int { train == nil ? Self.noopExamples : indices.count }

    /// What trains on this data: logistic regression on this organization's partition, or the
    /// no-op trainer when there is no data.
    public var trainer: any Trainer {
        guard let train else { return NoOpTrainer() }
        return LogisticRegressionTrainer(data: train, indices: indices)
    }
}
