import TallyCore
import Testing

@testable import TallyModel

/// Scattering2D against Kymatio (vectors from Vectors/make_scattering_vectors.py), the positive
/// controls that show the comparison can fail, GroupNorm by hand, and the feature transform.
@Suite struct ModelScatteringTests {
    /// The tolerance on the agreement with Kymatio: per channel, the largest difference over the
    /// largest reference magnitude. Kymatio's filters are float32 and ours double, so ~1e-6 is
    /// expected; a wrong filter or step is off by percents.
    static let tolerance = 1e-4

    /// Pixels k/255, k the top 8 bits of successive SplitMix64 outputs (as the generator script).
    static func splitMixPixels(seed: UInt64, count: Int) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 56) / 255
        }
    }

    /// The largest per-channel relative difference: max |a − r| / max |r| within each channel.
    static func channelError(_ actual: [Float], _ reference: ScatteringCase) -> Double {
        let size = reference.outputHeight * reference.outputWidth
        precondition(actual.count == reference.channels * size && reference.coefficients.count == actual.count)
        var worst = 0.0
        for channel in 0..<reference.channels {
            var difference = 0.0
            var magnitude = 0.0
            for i in (channel * size)..<((channel + 1) * size) {
                difference = max(difference, abs(Double(actual[i]) - Double(reference.coefficients[i])))
                magnitude = max(magnitude, abs(Double(reference.coefficients[i])))
            }
            worst = max(worst, difference / magnitude)
        }
        return worst
    }

    static func scattering(for reference: ScatteringCase, variant: ScatteringVariant = .kymatio) throws -> Scattering2D {
        let scattering = try Scattering2D(
            height: reference.height, width: reference.width, scales: reference.scales, angles: reference.angles,
            variant: variant)
        #expect(scattering.channelCount == reference.channels)
        #expect(scattering.outputHeight == reference.outputHeight && scattering.outputWidth == reference.outputWidth)
        return scattering
    }

    static func fashionImage() throws -> [Float] {
        Array(try ModelTestData.load().test.features(of: 0))
    }

    @Test func geometryMatchesKymatio() throws {
        let scattering = try Scattering2D(height: 28, width: 28)
        #expect(scattering.channelCount == 81 && scattering.outputHeight == 7 && scattering.outputWidth == 7)
        #expect(scattering.outputCount == 3969 && scattering.inputCount == 784)
        let geometry = scattering.bank.geometry
        #expect(geometry.paddedHeight == 36 && geometry.paddedWidth == 36)
        #expect(geometry.padTop == 4 && geometry.padBottom == 4 && geometry.padLeft == 4 && geometry.padRight == 4)
        // Filter levels as Kymatio keeps them: ψ only at full resolution for J = 2, φ at 0 and 1.
        #expect(scattering.bank.psi.count == 16 && scattering.bank.psi.allSatisfy { $0.count == 1 })
        #expect(scattering.bank.phi.map(\.count) == [36 * 36, 18 * 18])
        let odd = try Scattering2D(height: 20, width: 24, scales: 3, angles: 6)
        #expect(odd.bank.geometry.paddedHeight == 32 && odd.bank.geometry.paddedWidth == 40)
        #expect(odd.bank.psi.map(\.count) == [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    }

    @Test func matchesKymatioOnAPseudoRandomImage() throws {
        let reference = ScatteringVectors.random28
        let output = try Self.scattering(for: reference).transform(Self.splitMixPixels(seed: 1, count: 28 * 28))
        let error = Self.channelError(output, reference)
        print("scattering vs Kymatio, pseudo-random 28×28: largest per-channel relative difference \(error)")
        #expect(error < Self.tolerance)
    }

    @Test func matchesKymatioOnAFashionMNISTImage() throws {
        let reference = ScatteringVectors.fashion0
        let output = try Self.scattering(for: reference).transform(try Self.fashionImage())
        let error = Self.channelError(output, reference)
        print("scattering vs Kymatio, Fashion-MNIST test image 0: largest per-channel relative difference \(error)")
        #expect(error < Self.tolerance)
    }

    @Test func matchesKymatioAtAnotherSizeScaleAndAngleCount() throws {
        let reference = ScatteringVectors.random20x24
        let output = try Self.scattering(for: reference).transform(Self.splitMixPixels(seed: 2, count: 20 * 24))
        let error = Self.channelError(output, reference)
        print("scattering vs Kymatio, 20×24 J=3 L=6: largest per-channel relative difference \(error)")
        #expect(error < Self.tolerance)
    }

    /// Positive controls: the comparison above must be able to fail. A low-pass σ of 0.8·2^J
    /// (instead of Kymatio's 0.8·2^(J−1)) and a missing modulus both miss by far more than the
    /// tolerance, on both images.
    @Test func wrongLowPassSigmaOrNoModulusFailsTheComparison() throws {
        let cases: [(ScatteringCase, [Float])] = [
            (ScatteringVectors.random28, Self.splitMixPixels(seed: 1, count: 28 * 28)),
            (ScatteringVectors.fashion0, try Self.fashionImage()),
        ]
        for (reference, image) in cases {
            for variant in [ScatteringVariant(lowPassSigma: 1.6), ScatteringVariant(modulus: false)] {
                let output = try Self.scattering(for: reference, variant: variant).transform(image)
                let error = Self.channelError(output, reference)
                print("positive control \(variant) on \(reference.height)×\(reference.width): per-channel relative difference \(error)")
                #expect(error > 100 * Self.tolerance, "\(variant) is within \(error) of Kymatio")
            }
        }
    }

    /// The transform is linear before the modulus: S0 of a constant image is that constant times
    /// φ's mean (its DFT at 0), the same at every position after the reflection padding.
    @Test func constantImageHasAConstantLowPass() throws {
        let scattering = try Scattering2D(height: 28, width: 28)
        let output = scattering.transform([Float](repeating: 0.5, count: 784))
        let dc = scattering.bank.phi[0][0]
        for i in 0..<49 { #expect(abs(Double(output[i]) - 0.5 * dc) < 1e-6) }
        // No oscillation survives a wavelet, so every order-1 and order-2 coefficient is ~0.
        #expect(output[49...].allSatisfy { abs($0) < 1e-6 })
    }

    @Test func rejectsImagesTooSmallForTheScales() {
        #expect(throws: TallyError.self) { try Scattering2D(height: 3, width: 28) }
        #expect(throws: TallyError.self) { try Scattering2D(height: 28, width: 28, scales: 0) }
        // 4×4 with J = 2 would need a reflection pad of 4, as long as the side.
        #expect(throws: TallyError.self) { try Scattering2D(height: 4, width: 4) }
    }

    /// Two groups of two channels over two positions, computed by hand: group 0 holds 1, 2, 3, 4
    /// (mean 2.5, biased variance 1.25), group 1 holds 10, 10, 10, 14 (mean 11, variance 3).
    @Test func groupNormalizationMatchesAHandComputation() throws {
        let norm = try GroupNormalization(channels: 4, groups: 2, positions: 2)
        let out = norm.apply([1, 2, 3, 4, 10, 10, 10, 14])
        let s0 = (1.25 + 1e-5).squareRoot()
        let s1 = (3 + 1e-5).squareRoot()
        let expected = [-1.5 / s0, -0.5 / s0, 0.5 / s0, 1.5 / s0, -1 / s1, -1 / s1, -1 / s1, 3 / s1]
        for (a, e) in zip(out, expected) { #expect(abs(Double(a) - e) < 1e-6) }
        // A constant group becomes 0 (ε keeps it finite).
        #expect(try GroupNormalization(channels: 1, groups: 1, positions: 3).apply([7, 7, 7]) == [0, 0, 0])
        #expect(throws: TallyError.self) { try GroupNormalization(channels: 81, groups: 26, positions: 49) }
    }

    /// The whole feature transform on two images: Fashion-MNIST's first test image must match
    /// Kymatio followed by torch's GroupNorm(27) formula; every row must equal the transform of
    /// its image alone (the parallel chunks write the right rows).
    @Test func scatteringFeatureTransformMatchesTheReference() throws {
        let images = try Self.fashionImage() + Self.splitMixPixels(seed: 1, count: 784)
        let dataset = try Dataset(features: images, labels: [3, 7], featureCount: 784, classCount: 10)
        #expect(try FeatureTransform.scattering.outputFeatureCount(inputHeight: 28, inputWidth: 28) == 3969)
        #expect(try FeatureTransform.none.outputFeatureCount(inputHeight: 28, inputWidth: 28) == 784)
        let features = try FeatureTransform.scattering.apply(to: dataset, height: 28, width: 28)
        #expect(features.featureCount == 3969 && features.count == 2 && features.labels == [3, 7] && features.classCount == 10)

        let reference = ScatteringVectors.fashion0GroupNorm
        let stride = ScatteringVectors.fashion0GroupNormStride
        let row = Array(features.features(of: 0))
        let scale = reference.map { abs(Double($0)) }.max()!
        var worst = 0.0
        for (k, value) in reference.enumerated() { worst = max(worst, abs(Double(row[k * stride]) - Double(value))) }
        print(
            "scattering + GroupNorm(27) vs reference, Fashion-MNIST test image 0: largest difference \(worst / scale) of the largest value")
        #expect(worst / scale < Self.tolerance)

        let scattering = try Scattering2D(height: 28, width: 28)
        let norm = try GroupNormalization(channels: 81, groups: 27, positions: 49)
        for i in 0..<2 {
            let alone = norm.apply(scattering.transform(Array(images[(i * 784)..<((i + 1) * 784)])))
            #expect(Array(features.features(of: i)) == alone)
        }
        #expect(try FeatureTransform.none.apply(to: dataset, height: 28, width: 28).features == images)
        #expect(throws: TallyError.self) { try FeatureTransform.scattering.apply(to: dataset, height: 27, width: 28) }
    }

    @Test func featureTransformIsCodableByName() {
        #expect(FeatureTransform(rawValue: "scattering") == .scattering)
        #expect(FeatureTransform.allCases.map(\.rawValue) == ["none", "scattering"])
    }
}
