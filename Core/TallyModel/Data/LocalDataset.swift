public import TallyCore

/// One organization's examples, split once into a part it trains on and a held-out part it
/// only evaluates on, so a site can see how the federation's model does on records the model
/// never saw.
///
/// The split is a pure function of the example count, the fraction and the seed: the same file
/// gives the same parts after every restart, which keeps held-out examples from leaking into
/// training across runs.
public struct LocalDataset: Sendable {
    /// The examples to train on.
    public let training: Dataset
    /// The examples kept for local evaluation; empty when the fraction is 0.
    public let heldOut: Dataset

    /// Splits `dataset`: `heldOutFraction` (in [0, 1)) of its examples, at least one when the
    /// fraction is positive, drawn with `seed`, go to ``heldOut``; the rest to ``training``,
    /// both in file order.
    public init(splitting dataset: Dataset, heldOutFraction: Double, seed: UInt64) throws(TallyError) {
        let (training, heldOut) = try Self.split(count: dataset.count, heldOutFraction: heldOutFraction, seed: seed)
        self.training = heldOut.isEmpty ? dataset : try dataset.subset(training)
        self.heldOut = try dataset.subset(heldOut)
    }

    /// The indices of each part, each ascending; disjoint, and together every index below `count`.
    public static func split(count: Int, heldOutFraction: Double, seed: UInt64) throws(TallyError) -> (training: [Int], heldOut: [Int]) {
        guard heldOutFraction.isFinite, heldOutFraction >= 0, heldOutFraction < 1 else {
            throw TallyError(.invalidArgument, "heldOutFraction must be in [0, 1), got \(heldOutFraction)")
        }
        guard heldOutFraction > 0 else { return (Array(0..<count), []) }
        let held = max(1, Int((heldOutFraction * Double(count)).rounded()))
        guard held < count else {
            throw TallyError(
                .invalidArgument, "a held-out fraction of \(heldOutFraction) of \(count) examples leaves none to train on")
        }
        // A partial Fisher–Yates shuffle: the first `held` positions are a uniform sample.
        var order = Array(0..<count)
        var random = SimulationRandom(seed: seed)
        for i in 0..<held {
            order.swapAt(i, i + random.uniform(below: count - i))
        }
        var isHeld = [Bool](repeating: false, count: count)
        for i in order[0..<held] { isHeld[i] = true }
        return ((0..<count).filter { !isHeld[$0] }, (0..<count).filter { isHeld[$0] })
    }
}
