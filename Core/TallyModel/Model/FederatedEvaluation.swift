public import TallyCore

/// Federated evaluation: every site scores the model a round starts from on its held-out records
/// and sends the sums the federation's metrics need — examples, correct predictions, losses, and
/// per class the examples and the correct ones — appended to its update, so they are summed under
/// the same secure aggregation and carry the same distributed noise. The coordinator learns the
/// federation's metric, never one organization's.
///
/// Each held-out record contributes c·(1, correct, ℓ/L, e_y, correct·e_y), with ℓ its
/// cross-entropy clamped to L and e_y its class's unit vector: ℓ2 norm at most c·√5.
/// - Record unit: c = C/√5, summed over a Poisson sample (the round's q) of the held-out records.
///   A record is either trained on or held out, never both, so one record still moves the whole
///   vector by at most C: the evaluation costs no privacy beyond the round's.
/// - Organization unit: an organization's whole contribution must stay within C, so its update
///   is clipped to C·√(1 − s) and its evaluation is the mean over its held-out records with
///   c = C·√s/√5 (s = ``organizationShare``): ‖(Δ, e)‖² ≤ C².
///
/// The setting travels in the signed manifest of the version a round starts from, so both sides
/// size the round's vector the same way.
public struct FederatedEvaluation: Sendable, Codable, Hashable {
    /// s: the share of C² an organization gives its evaluation (organization unit only).
    public var organizationShare: Double

    public init(organizationShare: Double = 0.1) {
        self.organizationShare = organizationShare
    }

    /// L: the largest loss a record contributes (natural log; e⁻¹⁰ ≈ 4.5·10⁻⁵ probability).
    public static let lossCap = 10.0

    /// The evaluation's part of a round's vector for `classCount` classes.
    public static func length(classCount k: Int) -> Int { 3 + 2 * k }

    public func validate(what: String) throws(TallyError) {
        guard organizationShare.isFinite, organizationShare > 0, organizationShare < 1 else {
            throw TallyError(.invalidArgument, "\(what).organizationShare must be in (0, 1), got \(organizationShare)")
        }
    }

    /// c for one record's vector: C/√5 (record unit) or C·√s/√5 (organization unit).
    public func recordScale(clipNorm: Double, recordUnit: Bool) -> Double {
        clipNorm * (recordUnit ? 1 : organizationShare.squareRoot()) / 5.0.squareRoot()
    }

    /// The largest norm an organization-unit update keeps: C·√(1 − s).
    public func updateClipNorm(clipNorm: Double) -> Double { clipNorm * (1 - organizationShare).squareRoot() }

    /// Σ over `indices` of each record's vector (times `scale`) under `classifier`.
    public static func sum(
        _ classifier: some Classifier, on data: Dataset, indices: [Int], scale c: Double
    ) throws(TallyError) -> [Double] {
        let k = classifier.classCount
        var sum = [Double](repeating: 0, count: length(classCount: k))
        try classifier.forEachScores(on: data, indices: indices) { label, scores in
            let correct = ClassScores.argmax(scores) == label ? 1.0 : 0.0
            let loss = min(ClassScores.crossEntropy(scores, label), lossCap)
            sum[0] += c
            sum[1] += c * correct
            sum[2] += c * loss / lossCap
            sum[3 + label] += c
            sum[3 + k + label] += c * correct
        }
        return sum
    }

    /// What the federation learns from a released evaluation sum.
    public struct Metrics: Sendable, Codable, Hashable {
        /// Records (record unit) or organizations with held-out records (organization unit), as
        /// the noisy sum says.
        public var count: Double
        public var accuracy: Double
        /// Mean cross-entropy, each record's clamped to ``FederatedEvaluation/lossCap``.
        public var loss: Double
        /// Per class: correct over examples (nil where the noisy count is below one).
        public var classRecall: [Double?]
        /// The standard deviation the noise alone gives ``accuracy`` and ``loss`` (from the
        /// released sum's noise per coordinate); nil when not known. A gate threshold below a few
        /// of these decides by chance.
        public var accuracyNoise: Double?
        public var lossNoise: Double?
    }

    /// Metrics from a released sum (`scale` as ``recordScale(clipNorm:recordUnit:)``); nil when
    /// the noisy count is below one: nothing was held out, or the noise swamps it. `noise`: the
    /// standard deviation of the noise on each coordinate of the sum, when known.
    public static func metrics(fromSum sum: [Double], scale c: Double, noise: Double? = nil) -> Metrics? {
        guard sum.count >= 5, (sum.count - 3) % 2 == 0, c > 0 else { return nil }
        let k = (sum.count - 3) / 2
        let total = sum[0]
        guard total / c >= 1, total.isFinite else { return nil }
        func clamp(_ x: Double, _ top: Double) -> Double { min(max(x, 0), top) }
        let recall: [Double?] = (0..<k).map { j in
            sum[3 + j] / c >= 1 ? clamp(sum[3 + k + j] / sum[3 + j], 1) : nil
        }
        let (accuracy, loss) = (clamp(sum[1] / total, 1), clamp(lossCap * sum[2] / total, lossCap))
        // A ratio a/b with noise σ on both: σ/b·√(1 + (a/b)²), to first order.
        let relative = noise.map { $0 / total }
        return Metrics(
            count: total / c, accuracy: accuracy, loss: loss, classRecall: recall,
            accuracyNoise: relative.map { $0 * (1 + accuracy * accuracy).squareRoot() },
            lossNoise: relative.map { $0 * (lossCap * lossCap + loss * loss).squareRoot() })
    }
}

extension ModelState {
    /// The round's vector length when sites also send `evaluation`'s sums: the parameters plus
    /// the evaluation part for a built-in classifier (a moments round evaluates nothing).
    public func roundVectorLength(evaluating evaluation: FederatedEvaluation?) -> Int {
        guard carried(evaluation) != nil, let k = classCount else { return roundVectorLength }
        return parameterCount + FederatedEvaluation.length(classCount: k)
    }

    /// `evaluation` if a round on this model carries it (a training round of a built-in
    /// classifier), nil otherwise: what both sides split the round's vector by.
    public func carried(_ evaluation: FederatedEvaluation?) -> FederatedEvaluation? {
        guard !measuresMoments, classCount != nil else { return nil }
        return evaluation
    }
}
