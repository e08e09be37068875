internal import Dispatch
public import TallyCore

/// A fixed, data-independent map applied to every example before training. Being the same for
/// every record, it costs no privacy budget, yet it decides how much DP-SGD can learn.
public enum FeatureTransform: String, Sendable, Codable, CaseIterable {
    /// The raw features.
    case none
    /// Tramèr & Boneh's ScatterNet features ("Differentially Private Learning Needs Better
    /// Features", ICLR 2021; github.com/ftramer/Handcrafted-DP): Kymatio's `Scattering2D(J=2, L=8)`
    /// of the image, then `GroupNorm(27, 81, affine=False)` per example. For Fashion-MNIST,
    /// Handcrafted-DP's only image normalization is torchvision's `ToTensor` (pixels / 255, no
    /// mean/std), which ``FashionMNIST/load(directory:)`` already applies, so pixels are taken as
    /// they are. 784 pixels become 81 × 7 × 7 = 3969 features (channel, row, column order).
    case scattering

    /// Scattering scales J and angles L, and GroupNorm groups, as Handcrafted-DP uses them.
    static let scatteringScales = 2
    static let scatteringAngles = 8
    static let groupNormGroups = 27

    /// Features per example after the transform of an `inputHeight` × `inputWidth` image.
    public func outputFeatureCount(inputHeight: Int, inputWidth: Int) throws(TallyError) -> Int {
        switch self {
        case .none:
            guard inputHeight > 0, inputWidth > 0 else {
                throw TallyError(.invalidArgument, "image sides must be positive, got \(inputHeight)×\(inputWidth)")
            }
            return inputHeight * inputWidth
        case .scattering:
            return try Self.makeScattering(height: inputHeight, width: inputWidth).outputCount
        }
    }

    /// Transforms every example of `dataset` (each a `height` × `width` row-major image), on all
    /// cores. Labels and classes are kept.
    public func apply(to dataset: Dataset, height: Int, width: Int) throws(TallyError) -> Dataset {
        guard height > 0, width > 0, dataset.featureCount == height * width else {
            throw TallyError(
                .sizeMismatch, "examples have \(dataset.featureCount) features, not a \(height)×\(width) image")
        }
        switch self {
        case .none:
            return dataset
        case .scattering:
            let scattering = try Self.makeScattering(height: height, width: width)
            let normalization = try GroupNormalization(
                channels: scattering.channelCount, groups: Self.groupNormGroups,
                positions: scattering.outputHeight * scattering.outputWidth)
            let features = Self.transformAll(dataset, scattering: scattering, normalization: normalization)
            return try Dataset(
                features: features, labels: dataset.labels, featureCount: scattering.outputCount, classCount: dataset.classCount)
        }
    }

    private static func makeScattering(height: Int, width: Int) throws(TallyError) -> Scattering2D {
        try Scattering2D(height: height, width: width, scales: scatteringScales, angles: scatteringAngles)
    }

    /// Chunks of examples on `concurrentPerform` (as many threads as cores), one FFT workspace per
    /// chunk; each chunk writes its own rows of the output.
    private static func transformAll(_ dataset: Dataset, scattering: Scattering2D, normalization: GroupNormalization) -> [Float] {
        let count = dataset.count
        let inCount = scattering.inputCount
        let outCount = scattering.outputCount
        let chunkCount = min(count, 64)
        return [Float](unsafeUninitializedCapacity: count * outCount) { buffer, initialized in
            if chunkCount > 0 {
                let output = SharedOutput(base: buffer.baseAddress!)
                dataset.features.withUnsafeBufferPointer { input in
                    let source = SharedInput(base: input.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                        let workspace = scattering.makeWorkspace()
                        for example in (chunk * count / chunkCount)..<((chunk + 1) * count / chunkCount) {
                            let image = UnsafeBufferPointer(start: source.base + example * inCount, count: inCount)
                            let row = UnsafeMutableBufferPointer(start: output.base + example * outCount, count: outCount)
                            scattering.transform(image, into: row, workspace: workspace)
                            normalization.apply(row)
                        }
                    }
                }
            }
            initialized = count * outCount
        }
    }
}

/// The output array's base address, shared by the chunks; each writes disjoint rows.
private struct SharedOutput: @unchecked Sendable { let base: UnsafeMutablePointer<Float> }
/// The input features, only read while the chunks run.
private struct SharedInput: @unchecked Sendable { let base: UnsafePointer<Float> }
