import TallyCore
import TallyModel

/// Validate before publishing: every site scores each new version on its held-out records
/// (``FederatedEvaluation``, summed under secure aggregation with the round's noise), and a
/// version is published only if the federation's metric improves on the published version's by
/// more than a threshold. Training continues from the newest version either way.
public struct ValidationSettings: Sendable, Codable, Hashable {
    /// Whether sites send their evaluation sums with every round (built-in models only).
    public var federatedEvaluation = true
    /// `accuracy` (higher is better) or `loss` (mean cross-entropy, lower is better).
    public var metric = "accuracy"
    /// How much better than the published version a candidate must score to be published.
    public var minImprovement = 0.0
    /// Organization unit: the share of C² an organization gives its evaluation (its update keeps
    /// C·√(1 − s)). The record unit needs none: its evaluation costs nothing extra.
    public var organizationShare = FederatedEvaluation().organizationShare
    /// The weight of a version's own evaluation in its gate score; the rest is its parent's
    /// score: gate score = w·metric + (1 − w)·parent's score (1: no smoothing). Each version is
    /// scored once, on a small noisy sample, and consecutive versions differ little: smoothing
    /// keeps one lucky draw from becoming a baseline nothing later beats.
    public var smoothing = 0.2
    /// The largest standard deviation the noise may give the metric for the gate to judge; a
    /// noisier evaluation (few organizations at organization level) cannot tell better from
    /// worse, and its candidate is published ungated, with a notice.
    public var maxNoise = 0.03

    public static let metrics = ["accuracy", "loss"]

    public init() {}

    public func validate() throws(TallyError) {
        guard Self.metrics.contains(metric) else {
            throw TallyError(.invalidArgument, "validation.metric must be one of \(Self.metrics.joined(separator: ", ")), got \(metric)")
        }
        guard minImprovement.isFinite, minImprovement >= 0 else {
            throw TallyError(.invalidArgument, "validation.minImprovement must be ≥ 0 and finite, got \(minImprovement)")
        }
        try FederatedEvaluation(organizationShare: organizationShare).validate(what: "validation")
        guard maxNoise.isFinite, maxNoise > 0 else {
            throw TallyError(.invalidArgument, "validation.maxNoise must be positive and finite, got \(maxNoise)")
        }
        guard smoothing.isFinite, smoothing > 0, smoothing <= 1 else {
            throw TallyError(.invalidArgument, "validation.smoothing must be in (0, 1], got \(smoothing)")
        }
    }

    /// Whether a candidate's gate score passes against the published version's.
    public func passes(score candidate: Double, over published: Double) -> Bool {
        metric == "loss" ? candidate < published - minImprovement : candidate > published + minImprovement
    }

    /// A version's gate score from its metrics and its parent's score (nil: none yet).
    public func score(_ metrics: FederatedEvaluation.Metrics, parent: Double?) -> Double {
        guard let parent else { return value(metrics) }
        return smoothing * value(metrics) + (1 - smoothing) * parent
    }

    /// The noise's standard deviation on the metric (nil: not known).
    public func noise(_ metrics: FederatedEvaluation.Metrics) -> Double? {
        metric == "loss" ? metrics.lossNoise : metrics.accuracyNoise
    }

    /// The metric's value in `metrics`.
    public func value(_ metrics: FederatedEvaluation.Metrics) -> Double {
        metric == "loss" ? metrics.loss : metrics.accuracy
    }
}
