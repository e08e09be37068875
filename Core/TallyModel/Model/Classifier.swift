public import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A built-in model that scores each example's classes. Predictions, accuracy and loss are
/// defined once here over ``forEachScores(on:indices:_:)``; each model only computes scores.
public protocol Classifier: Sendable {
    /// Inputs per example.
    var featureCount: Int { get }
    /// Classes scored.
    var classCount: Int { get }
    /// Checks `data` and `indices` against the model, then calls `body(label, scores)` for each
    /// selected example (default: all), in order. `scores` is valid only during the call.
    func forEachScores(on data: Dataset, indices: [Int]?, _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws(TallyError)
}

extension Classifier {
    /// Refuses data of another shape and indices outside it, before any work.
    func check(_ data: Dataset, _ indices: [Int]?) throws(TallyError) {
        guard data.featureCount == featureCount, data.classCount <= classCount else {
            throw TallyError(
                .sizeMismatch,
                "dataset has \(data.featureCount) features and \(data.classCount) classes; the model has \(featureCount) and \(classCount)")
        }
        if let indices, let bad = indices.first(where: { !(0..<data.count).contains($0) }) {
            throw TallyError(.invalidArgument, "example index \(bad) is out of 0..<\(data.count)")
        }
    }

    /// Predicted class of every example at `indices` (default: all), in order; lowest class on ties.
    public func predictions(on data: Dataset, indices: [Int]? = nil) throws(TallyError) -> [Int] {
        var out: [Int] = []
        try forEachScores(on: data, indices: indices) { _, scores in out.append(ClassScores.argmax(scores)) }
        return out
    }

    /// Fraction of examples at `indices` (default: all) classified correctly.
    public func accuracy(on data: Dataset, indices: [Int]? = nil) throws(TallyError) -> Double {
        var correct = 0, total = 0
        try forEachScores(on: data, indices: indices) { label, scores in
            if ClassScores.argmax(scores) == label { correct += 1 }
            total += 1
        }
        return total == 0 ? 0 : Double(correct) / Double(total)
    }

    /// Mean cross-entropy loss (natural log) over `indices` (default: all).
    public func loss(on data: Dataset, indices: [Int]? = nil) throws(TallyError) -> Double {
        var sum = 0.0, total = 0
        try forEachScores(on: data, indices: indices) { label, scores in
            sum += ClassScores.crossEntropy(scores, label)
            total += 1
        }
        return total == 0 ? 0 : sum / Double(total)
    }
}

extension Classifier {
    /// Area under the ROC curve of a two-class model over `indices` (default: all): the chance a
    /// random class-1 example scores above a random class-0 one (ties count half), with score
    /// s₁ − s₀ (monotone in the softmax probability of class 1). nil unless the model has two
    /// classes and both occur.
    public func auc(on data: Dataset, indices: [Int]? = nil) throws(TallyError) -> Double? {
        guard classCount == 2 else { return nil }
        var scored: [(score: Float, positive: Bool)] = []
        try forEachScores(on: data, indices: indices) { label, scores in scored.append((scores[1] - scores[0], label == 1)) }
        return BinaryAUC.auc(scored)
    }
}

/// The ROC AUC by ranks (Mann–Whitney U), O(n log n), ties given their average rank.
public enum BinaryAUC {
    public static func auc(_ examples: [(score: Float, positive: Bool)]) -> Double? {
        let positives = examples.filter(\.positive).count, negatives = examples.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let sorted = examples.sorted { $0.score < $1.score }
        var rankSum = 0.0, start = 0
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count, sorted[end + 1].score == sorted[start].score { end += 1 }
            // Ranks start..end (1-based start+1...end+1) share their average.
            let rank = Double(start + end + 2) / 2
            for i in start...end where sorted[i].positive { rankSum += rank }
            start = end + 1
        }
        let u = rankSum - Double(positives) * Double(positives + 1) / 2
        return u / (Double(positives) * Double(negatives))
    }
}

/// Kernels over one example's class scores.
enum ClassScores {
    /// Index of the largest score; the lowest index wins ties.
    static func argmax(_ scores: some Collection<Float>) -> Int {
        var best = 0
        var bestScore = scores.first ?? 0
        for (c, v) in scores.enumerated() where v > bestScore {
            best = c
            bestScore = v
        }
        return best
    }

    /// logsumexp(scores) − scores[label], in Double: computed stably from the largest score.
    static func crossEntropy(_ scores: UnsafeBufferPointer<Float>, _ label: Int) -> Double {
        var top = scores[0]
        for v in scores where v > top { top = v }
        var partition = 0.0
        for v in scores { partition += exp(Double(v - top)) }
        return Double(top) + log(partition) - Double(scores[label])
    }
}
