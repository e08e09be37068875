internal import CBLAS
public import TallyCore

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A multilayer perceptron trained with softmax cross-entropy: the federation's non-convex
/// built-in model. Every layer is one single-precision GEMM per batch (OpenBLAS), forward and
/// backward, so a participant trains at the machine's BLAS speed rather than at loop speed.
///
/// Parameters are in ``ModelSpec/layout`` order — for each layer i, `layers.i.weight` [out, in]
/// row-major, then `layers.i.bias` [out] — so the flat vector that is clipped and securely summed
/// is the safetensors file's tensors laid end to end.
public struct MultilayerPerceptron: Classifier, Hashable {
    public let spec: ModelSpec
    /// Layer widths, inputs first: `[featureCount] + hidden + [classCount]`.
    public let widths: [Int]
    public let activation: ModelSpec.Activation
    /// The weights and biases in layout order.
    public private(set) var parameters: [Float]

    public var featureCount: Int { widths[0] }
    public var classCount: Int { widths[widths.count - 1] }
    /// Number of weight layers (hidden layers + 1).
    public var layerCount: Int { widths.count - 1 }

    /// A model of `spec` (which must be ``ModelSpec/multilayerPerceptron(featureCount:hidden:activation:classCount:)``
    /// with at least two classes) with `parameters` in layout order, all finite.
    public init(spec: ModelSpec, parameters: [Float]) throws(TallyError) {
        guard case .multilayerPerceptron(let f, let hidden, let activation, let c) = spec else {
            throw TallyError(.invalidArgument, "a multilayer perceptron needs an MLP spec, got \(spec)")
        }
        let layout = try spec.layout
        guard c >= 2 else { throw TallyError(.invalidArgument, "an MLP classifier needs at least two classes, got \(c)") }
        guard parameters.count == layout.parameterCount else {
            throw TallyError(
                .sizeMismatch,
                "an MLP \(([f] + hidden + [c]).map(String.init).joined(separator: "→")) has \(layout.parameterCount) parameters, got \(parameters.count)"
            )
        }
        if let bad = parameters.firstIndex(where: { !$0.isFinite }) {
            var offset = 0
            for entry in layout.entries {
                if bad < offset + entry.elementCount {
                    throw TallyError(
                        .invalidArgument, "MLP tensor \"\(entry.name)\" element \(bad - offset) is \(parameters[bad]), not finite")
                }
                offset += entry.elementCount
            }
        }
        self.spec = spec
        self.widths = [f] + hidden + [c]
        self.activation = activation
        self.parameters = parameters
    }

    /// Replaces the parameters (same spec, same count, finite), e.g. after a server update.
    public mutating func setParameters(_ newValue: [Float]) throws(TallyError) {
        self = try MultilayerPerceptron(spec: spec, parameters: newValue)
    }

    /// The untrained model a federation starts from, the same for every `seed` on every platform:
    /// weights normal with He scale √(2/in) for ReLU, Xavier scale √(2/(in+out)) for tanh, so the
    /// activations neither vanish nor blow up through the layers; biases zero. (All-zero weights
    /// would never break the symmetry between hidden units.)
    public static func initial(spec: ModelSpec, seed: UInt64) throws(TallyError) -> MultilayerPerceptron {
        guard case .multilayerPerceptron(let f, let hidden, let activation, let c) = spec else {
            throw TallyError(.invalidArgument, "a multilayer perceptron needs an MLP spec, got \(spec)")
        }
        let widths = [f] + hidden + [c]
        var random = SimulationRandom(seed: seed)
        var parameters: [Float] = []
        parameters.reserveCapacity(try spec.layout.parameterCount)
        for l in 0..<(widths.count - 1) {
            let fanIn = widths[l], fanOut = widths[l + 1]
            let scale =
                switch activation {
                case .relu: (2.0 / Double(fanIn)).squareRoot()
                case .tanh: (2.0 / Double(fanIn + fanOut)).squareRoot()
                }
            for _ in 0..<(fanIn * fanOut) { parameters.append(Float(scale * random.standardNormal())) }
            parameters.append(contentsOf: repeatElement(0, count: fanOut))
        }
        return try MultilayerPerceptron(spec: spec, parameters: parameters)
    }

    // MARK: Inference

    /// Runs the forward pass over the selected examples in chunks and calls `body(label, scores)`
    /// for each, in order.
    public func forEachScores(
        on data: Dataset, indices: [Int]?, _ body: (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws(TallyError) {
        try check(data, indices)
        let total = indices?.count ?? data.count
        let chunk = min(256, max(total, 1))
        let work = Workspace(widths: widths, capacity: chunk)
        let classCount = classCount
        parameters.withUnsafeBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                var start = 0
                while start < total {
                    let n = min(chunk, total - start)
                    work.gather(features, data.featureCount, n) { indices?[start + $0] ?? (start + $0) }
                    forward(w.baseAddress!, work, n)
                    let logits = work.activations[layerCount]
                    for r in 0..<n {
                        let i = indices?[start + r] ?? (start + r)
                        body(Int(data.labels[i]), UnsafeBufferPointer(start: logits + r * classCount, count: classCount))
                    }
                    start += n
                }
            }
        }
    }

    // MARK: Gradients

    /// The mean cross-entropy over the examples at `indices` and its gradient (layout order):
    /// one forward and one backward pass over them as a single batch.
    public func gradient(on data: Dataset, indices: [Int]) throws(TallyError) -> (loss: Double, gradient: [Float]) {
        try check(data, indices)
        guard !indices.isEmpty else { throw TallyError(.invalidArgument, "a gradient needs at least one example") }
        let work = Workspace(widths: widths, capacity: indices.count)
        var gradient = [Float](repeating: 0, count: parameters.count)
        var loss = 0.0
        parameters.withUnsafeBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                gradient.withUnsafeMutableBufferPointer { g in
                    work.gather(features, data.featureCount, indices.count) { indices[$0] }
                    forward(w.baseAddress!, work, indices.count)
                    loss = outputDeltas(work, indices.count) { Int(data.labels[indices[$0]]) }
                    backward(w.baseAddress!, work, indices.count, into: g.baseAddress!, alpha: 1 / Float(indices.count), beta: 0)
                }
            }
        }
        return (loss / Double(indices.count), gradient)
    }

    /// What record-level differential privacy needs from a batch: every example's own gradient
    /// norm, and the sum of the per-example gradients each multiplied by a factor chosen from the
    /// norms (typically min(1, C/‖gᵢ‖), i.e. the clipped sum of DP-SGD).
    public struct PerExampleGradients: Sendable, Hashable {
        /// ‖gᵢ‖₂ of each example's cross-entropy gradient, in the order of the indices given.
        public var norms: [Double]
        /// Σᵢ factorᵢ · gᵢ, in layout order, accumulated in double precision (the record-level
        /// sensitivity argument bounds its rounding: ``ClippedGradientSum``).
        public var scaledSum: [Double]
    }

    /// Per-example gradient norms and their scaled sum for the examples at `indices`, without one
    /// backward pass per example: the batch's backward pass keeps each example's output-gradient
    /// δᵢ at every layer; example i's weight gradient in a layer is the outer product δᵢ aᵢᵀ with
    /// that layer's input aᵢ, so its squared norm is ‖δᵢ‖²‖aᵢ‖² (plus ‖δᵢ‖² for the bias), and
    /// Σᵢ sᵢ δᵢ aᵢᵀ is one double-precision GEMM with δ's rows scaled by sᵢ.
    ///
    /// - Parameter factors: given the norms, the factor of each example (as many as there are
    ///   indices, finite).
    public func perExampleGradients(
        on data: Dataset, indices: [Int], factors: ([Double]) -> [Double]
    ) throws(TallyError) -> PerExampleGradients {
        try check(data, indices)
        let n = indices.count
        guard n > 0 else { throw TallyError(.invalidArgument, "per-example gradients need at least one example") }
        let work = Workspace(widths: widths, capacity: n)
        let layers = layerCount
        var norms = [Double](repeating: 0, count: n)
        parameters.withUnsafeBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                work.gather(features, data.featureCount, n) { indices[$0] }
                forward(w.baseAddress!, work, n)
                _ = outputDeltas(work, n) { Int(data.labels[indices[$0]]) }
                var squared = [Double](repeating: 0, count: n)
                for l in stride(from: layers - 1, through: 0, by: -1) {
                    if l > 0 { propagate(w.baseAddress!, work, n, layer: l) }
                    let input = work.activations[l], delta = work.deltas[l + 1]
                    let fanIn = widths[l], fanOut = widths[l + 1]
                    for i in 0..<n {
                        let d = Self.squaredNorm(delta + i * fanOut, fanOut)
                        let a = Self.squaredNorm(input + i * fanIn, fanIn)
                        squared[i] += d * (a + 1)
                    }
                }
                for i in 0..<n { norms[i] = squared[i].squareRoot() }
            }
        }
        let scale = factors(norms)
        guard scale.count == n else {
            throw TallyError(.sizeMismatch, "per-example gradient factors: expected \(n), got \(scale.count)")
        }
        if let bad = scale.firstIndex(where: { !$0.isFinite }) {
            throw TallyError(.invalidArgument, "per-example gradient factor \(bad) is \(scale[bad]), not finite")
        }
        var sum = [Double](repeating: 0, count: parameters.count)
        sum.withUnsafeMutableBufferPointer { out in
            for l in 0..<layers {
                let fanIn = widths[l], fanOut = widths[l + 1], offset = weightOffset(l)
                let delta = work.deltas[l + 1], input = work.activations[l]
                var d = [Double](repeating: 0, count: n * fanOut)
                var a = [Double](repeating: 0, count: n * fanIn)
                for i in 0..<n {
                    for o in 0..<fanOut { d[i * fanOut + o] = scale[i] * Double(delta[i * fanOut + o]) }
                    for j in 0..<fanIn { a[i * fanIn + j] = Double(input[i * fanIn + j]) }
                }
                cblas_dgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanOut), Int32(fanIn), Int32(n),
                    1, d, Int32(fanOut), a, Int32(fanIn), 0, out.baseAddress! + offset, Int32(fanIn))
                let bias = out.baseAddress! + offset + fanIn * fanOut
                for i in 0..<n {
                    for o in 0..<fanOut { bias[o] += d[i * fanOut + o] }
                }
            }
        }
        return PerExampleGradients(norms: norms, scaledSum: sum)
    }

    /// The DP-SGD sum: each example's gradient clipped to ℓ2 norm at most `clipNorm` (less
    /// ``ClippedGradientSum/margin(records:)``), summed in double precision.
    public func clippedGradientSum(on data: Dataset, indices: [Int], clipNorm: Double) throws(TallyError) -> ClippedGradientSum {
        guard clipNorm > 0, clipNorm.isFinite else {
            throw TallyError(.invalidArgument, "clipNorm must be positive and finite, got \(clipNorm)")
        }
        guard !indices.isEmpty else {
            return ClippedGradientSum(sum: [Double](repeating: 0, count: parameters.count), records: 0, clipped: 0)
        }
        let margin = ClippedGradientSum.margin(records: indices.count)
        var clipped = 0
        let result = try perExampleGradients(on: data, indices: indices) { norms in
            norms.map {
                let factor = ClippedGradientSum.factor(norm: $0, clipNorm: clipNorm, margin: margin)
                if factor < 1 { clipped += 1 }
                return factor
            }
        }
        return ClippedGradientSum(sum: result.scaledSum, records: indices.count, clipped: clipped)
    }

    // MARK: Training

    /// Minibatch SGD on the mean cross-entropy, as ``LogisticRegression/train(on:indices:epochs:batchSize:learningRate:seed:stopIf:)``:
    /// each epoch visits the examples at `indices` (default: all) in an order shuffled by a
    /// generator seeded with `seed` (``trainingOrder(indices:count:epochs:seed:)``), in batches
    /// of `batchSize` (the last one may be smaller), one step of `learningRate` per batch.
    /// `shouldStop` is asked before every batch; when it stops training the parameters are left as
    /// they were. Returns whether training ran to the end.
    @discardableResult
    public mutating func train(
        on data: Dataset, indices: [Int]? = nil, epochs: Int, batchSize: Int,
        learningRate: Float, seed: UInt64,
        stopIf shouldStop: () -> Bool = { false }
    ) throws(TallyError) -> Bool {
        try check(data, indices)
        var batches = try Minibatches(
            count: data.count, indices: indices, epochs: epochs, batchSize: batchSize, learningRate: learningRate, seed: seed)
        guard !batches.isEmpty else { return true }
        let work = Workspace(widths: widths, capacity: batches.largestBatch)
        var weights = parameters
        var finished = true
        weights.withUnsafeMutableBufferPointer { w in
            data.features.withUnsafeBufferPointer { features in
                finished = batches.run(shouldStop: shouldStop) { batch in
                    let n = batch.count, first = batch.startIndex
                    work.gather(features, data.featureCount, n) { batch[first + $0] }
                    forward(w.baseAddress!, work, n)
                    _ = outputDeltas(work, n) { Int(data.labels[batch[first + $0]]) }
                    // The step is written straight into the weights (β = 1): each layer's
                    // input gradient is propagated through its weights before they change.
                    backward(w.baseAddress!, work, n, into: w.baseAddress!, alpha: -learningRate / Float(n), beta: 1)
                }
            }
        }
        guard finished else { return false }
        parameters = weights
        return true
    }

    /// The example order ``train(on:indices:epochs:batchSize:learningRate:seed:stopIf:)`` visits,
    /// epoch by epoch (`indices`, or 0..<`count` when nil): lets a run be replayed elsewhere, such
    /// as the benchmark's PyTorch twin.
    public static func trainingOrder(indices: [Int]?, count: Int, epochs: Int, seed: UInt64) -> [[Int]] {
        var order = indices ?? Array(0..<count)
        var random = SimulationRandom(seed: seed)
        return (0..<max(epochs, 0)).map { _ in
            random.shuffle(&order)
            return order
        }
    }

    // MARK: Passes
    //
    // Activations and deltas are row-major [batch, width]; a layer's weight W is [out, in], so
    // the forward pass is Z = A Wᵀ + b, the weight gradient Δᵀ A and the input gradient Δ W.

    /// Offset of layer `l`'s weight in the parameter vector (its bias follows the weight).
    private func weightOffset(_ l: Int) -> Int {
        var offset = 0
        for k in 0..<l { offset += (widths[k] + 1) * widths[k + 1] }
        return offset
    }

    /// Fills `work.activations[1...]` for the first `n` gathered rows; the last holds the logits.
    private func forward(_ w: UnsafePointer<Float>, _ work: Workspace, _ n: Int) {
        var offset = 0
        for l in 0..<layerCount {
            let fanIn = widths[l], fanOut = widths[l + 1]
            let weight = w + offset, bias = w + offset + fanIn * fanOut
            let z = work.activations[l + 1]
            for r in 0..<n { (z + r * fanOut).update(from: bias, count: fanOut) }
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(fanOut), Int32(fanIn),
                1, work.activations[l], Int32(fanIn), weight, Int32(fanIn), 1, z, Int32(fanOut))
            if l < layerCount - 1 {
                let count = n * fanOut
                switch activation {
                case .relu:
                    for k in 0..<count where z[k] < 0 { z[k] = 0 }
                case .tanh:
                    for k in 0..<count { z[k] = tanhf(z[k]) }
                }
            }
            offset += (fanIn + 1) * fanOut
        }
    }

    /// Sets the last deltas to softmax − one-hot(label) per example (the gradient of each example's
    /// own loss with respect to its logits) and returns the summed loss.
    private func outputDeltas(_ work: Workspace, _ n: Int, label: (Int) -> Int) -> Double {
        let c = classCount
        let logits = work.activations[layerCount], delta = work.deltas[layerCount]
        var loss = 0.0
        for r in 0..<n {
            let z = logits + r * c, d = delta + r * c
            let y = label(r)
            loss += ClassScores.crossEntropy(UnsafeBufferPointer(start: z, count: c), y)
            var top = z[0]
            for k in 1..<c where z[k] > top { top = z[k] }
            var total: Float = 0
            for k in 0..<c {
                d[k] = expf(z[k] - top)
                total += d[k]
            }
            let inverse = 1 / total
            for k in 0..<c { d[k] *= inverse }
            d[y] -= 1
        }
        return loss
    }

    /// Sets `work.deltas[l]` (gradient with respect to layer l's pre-activation) from
    /// `work.deltas[l + 1]` through layer l's weight and the activation's derivative.
    private func propagate(_ w: UnsafePointer<Float>, _ work: Workspace, _ n: Int, layer l: Int) {
        let fanIn = widths[l], fanOut = widths[l + 1]
        let d = work.deltas[l], a = work.activations[l]
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(fanIn), Int32(fanOut),
            1, work.deltas[l + 1], Int32(fanOut), w + weightOffset(l), Int32(fanIn), 0, d, Int32(fanIn))
        let count = n * fanIn
        switch activation {
        case .relu:
            for k in 0..<count where a[k] <= 0 { d[k] = 0 }
        case .tanh:
            for k in 0..<count { d[k] *= 1 - a[k] * a[k] }
        }
    }

    /// target ← β·target + α·Σᵢ gᵢ over the batch, layer by layer from the top, propagating the
    /// deltas down as it goes. `target` may be `w` itself (an SGD step): layer l's input gradient
    /// is computed before layer l's weights are written.
    private func backward(
        _ w: UnsafePointer<Float>, _ work: Workspace, _ n: Int, into target: UnsafeMutablePointer<Float>,
        alpha: Float, beta: Float
    ) {
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            if l > 0 { propagate(w, work, n, layer: l) }
            writeGradient(work, n, layer: l, into: target, alpha: alpha, beta: beta)
        }
    }

    /// target ← β·target + α·Σᵢ gᵢ for every layer, from deltas already propagated.
    private func accumulate(_ work: Workspace, _ n: Int, into target: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        for l in 0..<layerCount { writeGradient(work, n, layer: l, into: target, alpha: alpha, beta: beta) }
    }

    /// Layer l's weight gradient Δᵀ A (one GEMM) and bias gradient (Δ's column sums).
    private func writeGradient(
        _ work: Workspace, _ n: Int, layer l: Int, into target: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) {
        let fanIn = widths[l], fanOut = widths[l + 1]
        let offset = weightOffset(l)
        let delta = work.deltas[l + 1]
        cblas_sgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanOut), Int32(fanIn), Int32(n),
            alpha, delta, Int32(fanOut), work.activations[l], Int32(fanIn), beta, target + offset, Int32(fanIn))
        let bias = target + offset + fanIn * fanOut
        let sums = work.biasSums
        sums.update(repeating: 0, count: fanOut)
        for r in 0..<n {
            let row = delta + r * fanOut
            for k in 0..<fanOut { sums[k] += row[k] }
        }
        for k in 0..<fanOut { bias[k] = (beta == 0 ? 0 : beta * bias[k]) + alpha * sums[k] }
    }

    // MARK: Small kernels

    static func squaredNorm(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for k in 0..<n { s += Double(x[k]) * Double(x[k]) }
        return s
    }
}

/// The buffers of one batch: activations per layer (the gathered inputs first) and deltas per
/// layer output. Allocated once per training run or evaluation, reused for every batch.
private final class Workspace {
    /// `activations[l]`: [capacity, widths[l]]; `activations[0]` is the gathered input.
    let activations: [UnsafeMutablePointer<Float>]
    /// `deltas[l]` for l ≥ 1: [capacity, widths[l]], the loss gradient with respect to layer l's
    /// pre-activation; `deltas[0]` is unused.
    let deltas: [UnsafeMutablePointer<Float>]
    /// Scratch for one layer's bias gradient.
    let biasSums: UnsafeMutablePointer<Float>

    init(widths: [Int], capacity: Int) {
        activations = widths.map { .allocate(capacity: capacity * $0) }
        deltas = widths.map { .allocate(capacity: capacity * $0) }
        biasSums = .allocate(capacity: widths.max()!)
    }

    deinit {
        for p in activations { p.deallocate() }
        for p in deltas { p.deallocate() }
        biasSums.deallocate()
    }

    /// Copies the features of the examples `example(0..<n)` into `activations[0]`.
    func gather(_ features: UnsafeBufferPointer<Float>, _ featureCount: Int, _ n: Int, example: (Int) -> Int) {
        let input = activations[0]
        for r in 0..<n {
            (input + r * featureCount).update(from: features.baseAddress! + example(r) * featureCount, count: featureCount)
        }
    }
}
