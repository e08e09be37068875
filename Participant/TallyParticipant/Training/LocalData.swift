import TallyCore

/// This organization's training examples: its Dirichlet partition of Fashion-MNIST.
public struct LocalData: Sendable {
    public let train: Dataset
    public let indices: [Int]

    public init(source: ParticipantConfiguration.DataSource) throws(TallyError) {
        let train = try FashionMNIST.loadSplit(directory: source.fashionMNISTDirectory, prefix: "train")
        let partition = try DirichletPartition(labels: train.labels, classCount: FashionMNIST.classCount,
                                               organizations: source.organizations, alpha: source.alpha, seed: source.seed)
        self.train = train
        self.indices = partition.indices[source.index]
    }

    public var exampleCount: Int { indices.count }
}
