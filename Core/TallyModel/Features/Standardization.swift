internal import Foundation
public import TallyCore

/// Per-feature standardization, x' = (x − mean) / scale, applied by every site to its examples
/// (after ``FeatureTransform``) and by the coordinator to its evaluation data.
///
/// Raw tabular features can span orders of magnitude (0.05 to 2500 within one record), where
/// plain SGD with one clip norm fails. The scaling is either given in the task (`mean`, `scale`)
/// or **measured by the federation**: the task gives public bounds (`lower`, `upper`), the first
/// round on such a model sums every organization's per-record moments under secure aggregation
/// with distributed noise, charged to the ledgers like a training round, and the coordinator
/// publishes the model with the measured `mean` and `scale` filled in. It lives in the model
/// file's metadata, under the manifest's hash and signature, so a site applies exactly what the
/// coordinator published.
public struct Standardization: Sendable, Hashable, Codable {
    /// Public bounds each feature is clamped to while its moments are measured: one value for
    /// every feature or one per feature. nil for a scaling given in the task.
    public var lower: [Double]?
    public var upper: [Double]?
    /// Per-feature mean and scale; nil while the federation has not measured them yet.
    public var mean: [Double]?
    public var scale: [Double]?

    /// The model-file metadata key holding it (JSON).
    public static let metadataKey = "standardization"
    /// The smallest measured spread, as a fraction of a feature's bounds: noise can make a
    /// variance estimate tiny or negative, and dividing by it would blow the feature up.
    public static let minimumRelativeScale = 1e-3

    public init(lower: [Double]? = nil, upper: [Double]? = nil, mean: [Double]? = nil, scale: [Double]? = nil) {
        self.lower = lower
        self.upper = upper
        self.mean = mean
        self.scale = scale
    }

    /// True until the federation has measured `mean` and `scale`: a model in this state is not
    /// trained; its next round measures the moments instead.
    public var isPending: Bool { mean == nil }

    /// Length of a moments round's vector for `featureCount` features: a count, the sums and
    /// the sums of squares.
    public static func momentsLength(featureCount d: Int) -> Int { 1 + 2 * d }

    /// Whether a published model's standardization is what the task configures: the same bounds
    /// (its measured mean and scale aside), or the same fixed scaling, or none on both.
    public static func sameTask(_ configured: Standardization?, _ published: Standardization?) -> Bool {
        guard let configured, let published else { return configured == nil && published == nil }
        guard configured.lower != nil else { return configured == published }
        return configured.lower == published.lower && configured.upper == published.upper
    }

    // MARK: Checks

    /// Checks the values against a model of `featureCount` inputs; errors begin with `what`.
    public func validate(featureCount d: Int, what: String) throws(TallyError) {
        func fail(_ text: String) -> TallyError { TallyError(.invalidArgument, "\(what): \(text)") }
        func check(_ values: [Double]?, _ name: String, perFeatureOnly: Bool) throws(TallyError) {
            guard let values else { return }
            guard values.count == d || (!perFeatureOnly && values.count == 1) else {
                throw fail(
                    "\(name) has \(values.count) values; the model has \(d) features (give \(perFeatureOnly ? "" : "one value for all or ")one per feature)"
                )
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) { throw fail("\(name)[\(bad)] is not a finite number") }
        }
        guard (lower == nil) == (upper == nil) else { throw fail("lower and upper come together") }
        guard (mean == nil) == (scale == nil) else { throw fail("mean and scale come together") }
        guard lower != nil || mean != nil else {
            throw fail("give lower and upper (the federation measures mean and scale) or mean and scale (a fixed scaling)")
        }
        try check(lower, "lower", perFeatureOnly: false)
        try check(upper, "upper", perFeatureOnly: false)
        try check(mean, "mean", perFeatureOnly: true)
        try check(scale, "scale", perFeatureOnly: true)
        if let lower, let upper {
            func at(_ values: [Double], _ j: Int) -> Double { values.count == 1 ? values[0] : values[j] }
            if let bad = (0..<d).first(where: { !(at(lower, $0) < at(upper, $0)) }) {
                throw fail("lower must be below upper for every feature; feature \(bad) has \(at(lower, bad)) and \(at(upper, bad))")
            }
        }
        if let scale, let bad = scale.firstIndex(where: { !($0 > 0) }) { throw fail("scale[\(bad)] must be positive, got \(scale[bad])") }
    }

    /// Feature `j`'s bounds.
    private func bounds(_ j: Int) -> (lower: Double, width: Double) {
        let lo = lower!.count == 1 ? lower![0] : lower![j]
        let hi = upper!.count == 1 ? upper![0] : upper![j]
        return (lo, hi - lo)
    }

    // MARK: Measuring

    /// The sum over `indices` of each record's moments vector c·(1, v₁…v_d, v₁²…v_d²), with
    /// v_j the feature clamped to its bounds and mapped to [−1, 1] and c = clipNorm/√(1 + 2d):
    /// every record's vector has ℓ2 norm at most `clipNorm`, so one record moves the sum by at
    /// most that (the record unit's Δ), and an organization's mean of them is within the clip norm
    /// too. [−1, 1] rather than [0, 1]: the same noise then blurs a variance four times less.
    public func momentsSum(of data: Dataset, indices: [Int], clipNorm: Double) throws(TallyError) -> [Double] {
        guard lower != nil else { throw TallyError(.invalidArgument, "a fixed standardization has no moments to measure") }
        let d = data.featureCount
        let c = clipNorm / Double(Self.momentsLength(featureCount: d)).squareRoot()
        let bounds = (0..<d).map(bounds)
        var sum = [Double](repeating: 0, count: Self.momentsLength(featureCount: d))
        for i in indices {
            let row = data.features(of: i)
            sum[0] += c
            for (j, x) in row.enumerated() {
                let (lo, width) = bounds[j]
                let v = 2 * min(max((Double(x) - lo) / width, 0), 1) - 1
                sum[1 + j] += c * v
                sum[1 + d + j] += c * v * v
            }
        }
        return sum
    }

    /// This standardization with `mean` and `scale` measured from a released moments sum (the
    /// decoded, noisy Σ of ``momentsSum(of:indices:clipNorm:)`` over organizations, or of their
    /// means): mean_v = S_v/S₀, var_v = S_vv/S₀ − mean_v², mapped back through the bounds.
    /// Noise is clamped away where it would leave [−1, 1] or a non-positive spread.
    public func measured(fromMomentsSum sum: [Double], clipNorm: Double) throws(TallyError) -> Standardization {
        guard let lower, upper != nil else { throw TallyError(.invalidArgument, "a fixed standardization has no moments to measure") }
        guard sum.count % 2 == 1, sum.count >= 3 else {
            throw TallyError(.sizeMismatch, "a moments sum has 1 + 2d values, got \(sum.count)")
        }
        let d = (sum.count - 1) / 2
        guard [lower, upper!].allSatisfy({ $0.count == 1 || $0.count == d }) else {
            throw TallyError(.sizeMismatch, "a moments sum of \(d) features for bounds of \(lower.count) and \(upper!.count)")
        }
        let c = clipNorm / Double(sum.count).squareRoot()
        let count = sum[0] / c
        // Below one record the noise dominates the count: nothing sensible can be measured.
        guard count >= 1, count.isFinite else {
            throw TallyError(
                .statisticTooNoisy,
                "the measured record count is \(count): the noise swamps the features' moments (more data, or less noise, is needed)")
        }
        var means: [Double] = []
        var scales: [Double] = []
        for j in 0..<d {
            let (lo, width) = bounds(j)
            let m = min(max(sum[1 + j] / c / count, -1), 1)
            let second = sum[1 + d + j] / c / count
            // v's spread is at most 1 on [−1, 1]; a feature's, at most half its bounds' width.
            let spread = min(max((second - m * m).squareRoot().nanToZero, 2 * Self.minimumRelativeScale), 1)
            means.append(lo + width * (m + 1) / 2)
            scales.append(width / 2 * spread)
        }
        return Standardization(lower: self.lower, upper: upper, mean: means, scale: scales)
    }

    // MARK: Applying

    /// `data` with every feature standardized; `data` itself while the moments are pending.
    public func apply(to data: Dataset) throws(TallyError) -> Dataset {
        guard let mean, let scale else { return data }
        guard mean.count == data.featureCount else {
            throw TallyError(
                .dataSchemaMismatch, "the standardization is for \(mean.count) features; the data has \(data.featureCount)")
        }
        let d = data.featureCount
        let shift = mean.map { Float($0) }
        let factor = scale.map { Float(1 / $0) }
        var features = data.features
        features.withUnsafeMutableBufferPointer { values in
            for start in stride(from: 0, to: values.count, by: d) {
                for j in 0..<d { values[start + j] = (values[start + j] - shift[j]) * factor[j] }
            }
        }
        return try Dataset(features: features, labels: data.labels, featureCount: d, classCount: data.classCount)
    }

    // MARK: Model-file metadata

    /// The JSON stored under ``metadataKey``.
    public func metadataValue() throws(TallyError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return String(decoding: try encoder.encode(self), as: UTF8.self) } catch {
            throw TallyError(.invalidArgument, "the standardization cannot be encoded", cause: error)
        }
    }

    /// Reads ``metadataKey``'s JSON from a model file and checks it against `featureCount`.
    public static func fromMetadata(_ text: String, featureCount: Int) throws(TallyError) -> Standardization {
        let value: Standardization
        do { value = try JSONDecoder().decode(Standardization.self, from: Data(text.utf8)) } catch {
            throw TallyError(.invalidArgument, "model file metadata \"\(metadataKey)\" is not a standardization", cause: error)
        }
        try value.validate(featureCount: featureCount, what: "model file metadata \"\(metadataKey)\"")
        return value
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case lower, upper, mean, scale }

    /// Strict: an unknown key (a misspelt `scale`) is an error at its key, not a silent default.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "a standardization")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lower = try c.decodeIfPresent([Double].self, forKey: .lower)
        upper = try c.decodeIfPresent([Double].self, forKey: .upper)
        mean = try c.decodeIfPresent([Double].self, forKey: .mean)
        scale = try c.decodeIfPresent([Double].self, forKey: .scale)
    }
}

extension Double {
    fileprivate var nanToZero: Double { isNaN ? 0 : self }
}
