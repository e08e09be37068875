internal import CBLAS
public import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Multinomial logistic regression (softmax regression): the federation's demonstration model.
/// Convex, small (7,850 parameters for Fashion-MNIST) and quick to train, so a round's cost is
/// dominated by the secure aggregation being demonstrated, not by the model.
///
/// Parameter layout — the flat vector that is clipped, quantized and securely summed:
///
///     parameters[c * featureCount + j]               = W[c][j]  (weight of feature j for class c)
///     parameters[classCount * featureCount + c]      = b[c]     (bias of class c)
///
/// i.e. W row-major (classCount × featureCount) followed by b, the same order as the
/// safetensors tensors "weight" [classCount, featureCount] and "bias" [classCount].
public struct LogisticRegression: Classifier, Hashable {
    public let featureCount: Int
    public let classCount: Int
    /// W then b; see the type's documentation for the layout.
    public private(set) var parameters: [Float]

    /// Number of parameters: `classCount * (featureCount + 1)`.
    public var parameterCount: Int { classCount * (featureCount + 1) }

    /// An untrained model with all parameters zero (the usual start for a convex model: every
    /// class equally likely, loss ln(classCount)).
    public init(featureCount: Int = FashionMNIST.featureCount, classCount: Int = FashionMNIST.classCount) {
        precondition(featureCount > 0 && classCount > 1, "need at least one feature and two classes")
        self.featureCount = featureCount
        self.classCount = classCount
        self.parameters = [Float](repeating: 0, count: classCount * (featureCount + 1))
    }

    /// A model from a parameter vector in the documented layout (e.g. a decoded aggregate).
    public init(
        featureCount: Int = FashionMNIST.featureCount, classCount: Int = FashionMNIST.classCount,
        parameters: [Float]
    ) throws(TallyError) {
        guard featureCount > 0, classCount > 1 else {
            throw TallyError(.invalidArgument, "need at least one feature and two classes")
        }
        guard parameters.count == classCount * (featureCount + 1) else {
            throw TallyError(.sizeMismatch, "expected \(classCount * (featureCount + 1)) parameters, got \(parameters.count)")
        }
        guard parameters.allSatisfy(\.isFinite) else {
            throw TallyError(.invalidArgument, "parameters must be finite")
        }
        self.featureCount = featureCount
        self.classCount = classCount
        self.parameters = parameters
    }

    /// Replaces the parameters (same layout and count), e.g. after a server update.
    public mutating func setParameters(_ newValue: [Float]) throws(TallyError) {
        self = try LogisticRegression(featureCount: featureCount, classCount: classCount, parameters: newValue)
    }

    // MARK: Inference

    /// The class with the highest score for one example's features (lowest class on ties).
    public func predict(features: some Collection<Float>) throws(TallyError) -> Int {
        guard features.count == featureCount else {
            throw TallyError(.sizeMismatch, "expected \(featureCount) features, got \(features.count)")
        }
        let x = Array(features)
        var scores = [Float](repeating: 0, count: classCount)
        parameters.withUnsafeBufferPointer { w in
            x.withUnsafeBufferPointer { x in
                scores.withUnsafeMutableBufferPointer { s in
                    Self.logits(w, x.baseAddress!, featureCount, classCount, s)
                }
            }
        }
        return ClassScores.argmax(scores)
    }

    /// Calls `body(label, scores)` for each selected example: one single-precision GEMM per
    /// block of examples (OpenBLAS), so scoring a test set is at BLAS speed.
    public func forEachScores(
        on data: Dataset, indices: [Int]?, _ body: (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws(TallyError) {
        try check(data, indices)
        let f = featureCount, k = classCount
        let total = indices?.count ?? data.count
        let block = 512
        var scores = [Float](repeating: 0, count: block * k)
        var gathered = indices == nil ? [] : [Float](repeating: 0, count: block * f)
        parameters.withUnsafeBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                scores.withUnsafeMutableBufferPointer { s in
                    gathered.withUnsafeMutableBufferPointer { g in
                        var start = 0
                        while start < total {
                            let m = min(block, total - start)
                            let rows: UnsafePointer<Float>
                            if let indices {
                                for r in 0..<m {
                                    (g.baseAddress! + r * f).update(from: features.baseAddress! + indices[start + r] * f, count: f)
                                }
                                rows = UnsafePointer(g.baseAddress!)
                            } else {
                                rows = features.baseAddress! + start * f
                            }
                            // scores (m × k) = rows (m × f) · Wᵀ (f × k) + b
                            for r in 0..<m { (s.baseAddress! + r * k).update(from: w.baseAddress! + k * f, count: k) }
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(k), Int32(f),
                                1, rows, Int32(f), w.baseAddress!, Int32(f), 1, s.baseAddress!, Int32(k))
                            for r in 0..<m {
                                let i = indices?[start + r] ?? start + r
                                body(Int(data.labels[i]), UnsafeBufferPointer(start: s.baseAddress! + r * k, count: k))
                            }
                            start += m
                        }
                    }
                }
            }
        }
    }

    // MARK: Training

    /// Minibatch stochastic gradient descent on the mean cross-entropy loss.
    ///
    /// Each epoch visits the examples at `indices` (default: all) once, in an order shuffled by
    /// a generator seeded with `seed` (so a run is reproducible), in batches of `batchSize`
    /// (the last one may be smaller). Each batch takes one step of `learningRate` along the
    /// batch-mean gradient.
    public mutating func train(
        on data: Dataset, indices: [Int]? = nil, epochs: Int, batchSize: Int,
        learningRate: Float, seed: UInt64
    ) throws(TallyError) {
        _ = try train(
            on: data, indices: indices, epochs: epochs, batchSize: batchSize, learningRate: learningRate,
            seed: seed, stopIf: { false })
    }

    /// The same SGD, asking `shouldStop` before every batch: a caller's cancellation point, so
    /// a long run can be abandoned within one batch. Returns whether training ran to the end;
    /// when it stops early the parameters are left as they were (no half-trained model).
    public mutating func train(
        on data: Dataset, indices: [Int]? = nil, epochs: Int, batchSize: Int,
        learningRate: Float, seed: UInt64,
        stopIf shouldStop: () -> Bool
    ) throws(TallyError) -> Bool {
        try check(data, indices)
        var batches = try Minibatches(
            count: data.count, indices: indices, epochs: epochs, batchSize: batchSize, learningRate: learningRate, seed: seed)
        guard !batches.isEmpty else { return true }

        let featureCount = featureCount, classCount = classCount
        let biasOffset = classCount * featureCount
        var weights = parameters
        var gradient = [Float](repeating: 0, count: weights.count)
        var scores = [Float](repeating: 0, count: classCount)
        var finished = true
        weights.withUnsafeMutableBufferPointer { w in
            gradient.withUnsafeMutableBufferPointer { g in
                scores.withUnsafeMutableBufferPointer { s in
                    data.features.withUnsafeBufferPointer { features in
                        data.labels.withUnsafeBufferPointer { labels in
                            finished = batches.run(shouldStop: shouldStop) { batch in
                                g.update(repeating: 0)
                                for i in batch {
                                    let x = features.baseAddress! + i * featureCount
                                    Self.logits(UnsafeBufferPointer(w), x, featureCount, classCount, s)
                                    Self.softmax(s)
                                    // ∂loss/∂score = softmax − one-hot(label).
                                    s[Int(labels[i])] -= 1
                                    var c = 0
                                    while c < classCount {
                                        let delta = s[c]
                                        Self.axpy(delta, x, g.baseAddress! + c * featureCount, featureCount)
                                        g[biasOffset + c] += delta
                                        c += 1
                                    }
                                }
                                Self.axpy(-learningRate / Float(batch.count), UnsafePointer(g.baseAddress!), w.baseAddress!, w.count)
                            }
                        }
                    }
                }
            }
        }
        guard finished else { return false }
        parameters = weights
        return true
    }

    // MARK: Safetensors

    /// The model as safetensors: "weight" [classCount, featureCount] and "bias" [classCount], F32.
    public func safeTensors(metadata: [String: String] = [:]) -> SafeTensors {
        let split = classCount * featureCount
        do {
            return try SafeTensors(
                tensors: [
                    "weight": .init(shape: [classCount, featureCount], values: Array(parameters[..<split])),
                    "bias": .init(shape: [classCount], values: Array(parameters[split...])),
                ], metadata: metadata)
        } catch {
            preconditionFailure("shapes match the parameter count by construction: \(error)")
        }
    }

    /// A model from safetensors with "weight" [C, F] and "bias" [C] (F32); other tensors are refused
    /// so that a file meant for a different model is not silently half-read.
    public init(safeTensors file: SafeTensors) throws(TallyError) {
        guard let weight = file["weight"], let bias = file["bias"] else {
            throw TallyError(.invalidArgument, "a logistic-regression model needs tensors \"weight\" and \"bias\"")
        }
        guard file.tensors.count == 2 else {
            throw TallyError(.invalidArgument, "unexpected tensors \(file.sortedNames.filter { $0 != "weight" && $0 != "bias" })")
        }
        guard weight.shape.count == 2, bias.shape == [weight.shape[0]] else {
            throw TallyError(.sizeMismatch, "weight must be [classes, features] and bias [classes]; got \(weight.shape) and \(bias.shape)")
        }
        try self.init(
            featureCount: weight.shape[1], classCount: weight.shape[0],
            parameters: try weight.floatValues() + bias.floatValues())
    }

    // MARK: Kernels
    //
    // Plain loops over raw pointers: fast with optimisation, and not pathologically slow in
    // debug builds (no iterator or bounds-check overhead per element). Four independent
    // accumulators let the dot product pipeline without reassociating floating point.

    /// scores[c] = b[c] + Σ_j W[c][j] x[j]
    @inline(__always)
    static func logits(
        _ w: UnsafeBufferPointer<Float>, _ x: UnsafePointer<Float>, _ featureCount: Int,
        _ classCount: Int, _ scores: UnsafeMutableBufferPointer<Float>
    ) {
        let base = w.baseAddress!
        var c = 0
        while c < classCount {
            scores[c] = base[classCount * featureCount + c] + dot(base + c * featureCount, x, featureCount)
            c += 1
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var j = 0
        while j + 4 <= n {
            s0 += a[j] * b[j]
            s1 += a[j + 1] * b[j + 1]
            s2 += a[j + 2] * b[j + 2]
            s3 += a[j + 3] * b[j + 3]
            j += 4
        }
        while j < n {
            s0 += a[j] * b[j]
            j += 1
        }
        return (s0 + s1) + (s2 + s3)
    }

    /// y += alpha · x
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j < n {
            y[j] += alpha * x[j]
            j += 1
        }
    }

    /// In-place softmax, shifted by the maximum so exp never overflows.
    @inline(__always)
    static func softmax(_ s: UnsafeMutableBufferPointer<Float>) {
        var top = s[0]
        for v in s where v > top { top = v }
        var total: Float = 0
        for c in s.indices {
            s[c] = expf(s[c] - top)
            total += s[c]
        }
        let inverse = 1 / total
        for c in s.indices { s[c] *= inverse }
    }
}
