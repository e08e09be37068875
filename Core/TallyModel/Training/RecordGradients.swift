internal import CBLAS
public import TallyCore

/// What a record-level round computes from an organization's sampled records: the sum of each
/// record's cross-entropy gradient at the global model, clipped to ℓ2 norm C (DP-SGD's clipped
/// sum). The privacy argument needs one record to move the sum actually computed by at most C,
/// floating point included, so the sum is accumulated in double precision and each gradient is
/// clipped a little below C: recursive summation of n terms errs by at most γₙ·Σ‖termᵢ‖ ≤ n²u·C
/// in norm (Higham, Accuracy and Stability, §4.2; u = 2⁻⁵³), twice for two neighbouring sums, so
/// clipping to C·(1 − ``margin(records:)``) keeps the difference of the two computed sums within C.
public struct ClippedGradientSum: Sendable {
    /// Σᵢ clip(gᵢ), in the model's parameter order.
    public var sum: [Double]
    /// Records summed.
    public var records: Int
    /// Records whose gradient was longer than the clip norm.
    public var clipped: Int

    /// The relative margin below C each gradient is clipped to when `records` are summed:
    /// 4n²u + 10⁻⁹ (the second term covers the norms' own rounding).
    public static func margin(records n: Int) -> Double {
        4 * Double(n) * Double(n) * 0x1p-53 + 1e-9
    }

    /// The factor min(1, C(1 − margin)/‖g‖) of a gradient of norm `norm`.
    static func factor(norm: Double, clipNorm: Double, margin: Double) -> Double {
        let limit = clipNorm * (1 - margin)
        return norm > limit ? limit / norm : 1
    }

    /// The most records one sum may hold: beyond it the margin would exceed 10⁻³.
    public static let maxRecords = 1 << 20
}

extension ModelState {
    /// The clipped gradient sum over the records of `data` at `indices`, for the built-in models.
    public func clippedGradientSum(on data: Dataset, indices: [Int], clipNorm: Double) throws(TallyError) -> ClippedGradientSum {
        guard clipNorm.isFinite, clipNorm > 0 else {
            throw TallyError(.invalidArgument, "clip norm must be positive and finite, got \(clipNorm)")
        }
        guard indices.count <= ClippedGradientSum.maxRecords else {
            throw TallyError(
                .sizeLimitExceeded, "a record-level sum holds at most \(ClippedGradientSum.maxRecords) records, got \(indices.count)")
        }
        switch spec {
        case .logisticRegression(let f, let c):
            return try LogisticRegression(featureCount: f, classCount: c, parameters: parameters)
                .clippedGradientSum(on: data, indices: indices, clipNorm: clipNorm)
        case .multilayerPerceptron:
            return try MultilayerPerceptron(spec: spec, parameters: parameters)
                .clippedGradientSum(on: data, indices: indices, clipNorm: clipNorm)
        case .external, .flat:
            throw TallyError(
                .invalidArgument,
                "record-level rounds need per-record gradients, which only the built-in models give (logistic regression, MLP); this model is \(spec.metadata[ModelSpec.formatKey] ?? "?")"
            )
        }
    }
}

extension LogisticRegression {
    /// Σᵢ clip(gᵢ) in double precision: example i's gradient is eᵢ ⊗ [xᵢ, 1] with eᵢ = pᵢ − yᵢ
    /// (softmax minus one-hot), so ‖gᵢ‖² = ‖eᵢ‖²(‖xᵢ‖² + 1) and the clipped sum is one GEMM, Sᵂ = Eᵀ X,
    /// with E's rows scaled by the clip factors.
    public func clippedGradientSum(on data: Dataset, indices: [Int], clipNorm: Double) throws(TallyError) -> ClippedGradientSum {
        try check(data, indices)
        let n = indices.count, f = featureCount, k = classCount
        var sum = [Double](repeating: 0, count: parameterCount)
        guard n > 0 else { return ClippedGradientSum(sum: sum, records: 0, clipped: 0) }
        let margin = ClippedGradientSum.margin(records: n)
        var e = [Double](repeating: 0, count: n * k)
        var x = [Double](repeating: 0, count: n * f)
        var clipped = 0
        var scores = [Float](repeating: 0, count: k)
        parameters.withUnsafeBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                scores.withUnsafeMutableBufferPointer { s in
                    for (row, i) in indices.enumerated() {
                        let xi = features.baseAddress! + i * f
                        Self.logits(w, xi, f, k, s)
                        Self.softmax(s)
                        var errorSquared = 0.0, inputSquared = 1.0 // the bias's input is 1
                        let label = Int(data.labels[i])
                        for c in 0..<k {
                            let v = Double(s[c]) - (c == label ? 1 : 0)
                            e[row * k + c] = v
                            errorSquared += v * v
                        }
                        for j in 0..<f {
                            let v = Double(xi[j])
                            x[row * f + j] = v
                            inputSquared += v * v
                        }
                        let norm = (errorSquared * inputSquared).squareRoot()
                        let factor = ClippedGradientSum.factor(norm: norm, clipNorm: clipNorm, margin: margin)
                        if factor < 1 { clipped += 1 }
                        for c in 0..<k { e[row * k + c] *= factor }
                    }
                }
            }
        }
        // Sᵂ (k × f) = Eᵀ (k × n) · X (n × f); S_b = Σᵢ eᵢ, summed in index order.
        sum.withUnsafeMutableBufferPointer { out in
            cblas_dgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(f), Int32(n),
                1, e, Int32(k), x, Int32(f), 0, out.baseAddress!, Int32(f))
            for row in 0..<n {
                for c in 0..<k { out[k * f + c] += e[row * k + c] }
            }
        }
        return ClippedGradientSum(sum: sum, records: n, clipped: clipped)
    }
}
