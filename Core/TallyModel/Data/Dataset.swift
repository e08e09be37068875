public import TallyCore

/// A labelled classification dataset held in memory: dense float features, one row per
/// example, and a class label per example.
///
/// Features are one flat row-major array (not an array of rows) so training loops can walk
/// them with a single pointer and no per-row allocation.
public struct Dataset: Sendable {
    /// Features per example (784 for Fashion-MNIST).
    public let featureCount: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// `count × featureCount` values, row-major: example i is `features[i*featureCount ..< (i+1)*featureCount]`.
    public let features: [Float]
    /// One label per example, each in `0 ..< classCount`.
    public let labels: [UInt8]

    /// Number of examples.
    public var count: Int { labels.count }

    public init(features: [Float], labels: [UInt8], featureCount: Int, classCount: Int) throws(TallyError) {
        guard featureCount > 0 else { throw TallyError(.invalidArgument, "featureCount must be positive") }
        guard (1...256).contains(classCount) else { throw TallyError(.invalidArgument, "classCount must be in 1...256") }
        let (expected, overflow) = labels.count.multipliedReportingOverflow(by: featureCount)
        guard !overflow, features.count == expected else {
            throw TallyError(.sizeMismatch, "\(labels.count) labels need \(labels.count) × \(featureCount) features, got \(features.count)")
        }
        if let bad = labels.first(where: { Int($0) >= classCount }) {
            throw TallyError(.malformedDataset, "label \(bad) is not below the class count \(classCount)")
        }
        self.features = features
        self.labels = labels
        self.featureCount = featureCount
        self.classCount = classCount
    }

    /// The features of example `index`.
    public func features(of index: Int) -> ArraySlice<Float> {
        features[(index * featureCount)..<((index + 1) * featureCount)]
    }

    /// How many examples of each class (over `indices`, or all examples).
    public func classCounts(indices: [Int]? = nil) -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        if let indices {
            for i in indices { counts[Int(labels[i])] += 1 }
        } else {
            for label in labels { counts[Int(label)] += 1 }
        }
        return counts
    }

    /// A new dataset of the examples at `indices`, in that order (e.g. one organization's share).
    public func subset(_ indices: [Int]) throws(TallyError) -> Dataset {
        guard indices.allSatisfy({ (0..<count).contains($0) }) else {
            throw TallyError(.invalidArgument, "subset index out of 0..<\(count)")
        }
        var subsetFeatures: [Float] = []
        subsetFeatures.reserveCapacity(indices.count * featureCount)
        for i in indices { subsetFeatures.append(contentsOf: features(of: i)) }
        return try Dataset(
            features: subsetFeatures, labels: indices.map { labels[$0] },
            featureCount: featureCount, classCount: classCount)
    }
}
