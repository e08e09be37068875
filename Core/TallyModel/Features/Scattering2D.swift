internal import CFFTW
internal import Synchronization
public import TallyCore

/// The 2-D scattering transform (Bruna & Mallat; "ScatterNet"), ported from Kymatio's
/// `Scattering2D` (`kymatio/scattering2d`: `filter_bank.py`, `core/scattering2d.py`, the NumPy
/// backend) so that features match what Tramèr & Boneh (ICLR 2021) train DP linear models on.
///
/// For one image x and `scales` J, `angles` L, with max order 2, the output channels are, in
/// Kymatio's order:
/// - S0 = x ⋆ φ_J (1 channel);
/// - S1 = |x ⋆ ψ_{j1,θ1}| ⋆ φ_J for (j1, θ1) in j-major order (J·L channels);
/// - S2 = ||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}| ⋆ φ_J for j2 > j1, ordered by (j1, θ1) then (j2, θ2)
///   (L²·J(J−1)/2 channels);
///
/// each subsampled by 2^J: 81 channels of 7×7 for a 28×28 image with J = 2, L = 8.
///
/// As in Kymatio, the image is reflect-padded to a multiple of 2^J (36×36 for 28×28, J = 2), every
/// convolution is a product in the 2-D DFT domain, subsampling by k is the periodization of the
/// spectrum (the mean of its k×k aliases), and one pixel is cropped from each border of the
/// subsampled result. Arithmetic is double precision (FFTW) with single-precision output.
///
/// The filters and plans are immutable and shared, so any number of threads may transform at once,
/// each with its own ``ScatteringWorkspace``.
public struct Scattering2D: Sendable {
    public let height: Int
    public let width: Int
    /// J: the largest wavelet scale is 2^(J−1), the output is subsampled by 2^J.
    public let scales: Int
    /// L: wavelet orientations over [0, π).
    public let angles: Int
    /// 1 + J·L + L²·J(J−1)/2 (81 for J = 2, L = 8).
    public let channelCount: Int
    public let outputHeight: Int
    public let outputWidth: Int
    let bank: ScatteringBank

    /// Values one image has (height × width, row-major).
    public var inputCount: Int { height * width }
    /// Values one transformed image has (channels × outputHeight × outputWidth, channel-major).
    public var outputCount: Int { channelCount * outputHeight * outputWidth }

    /// Builds (or reuses, per size, scales and angles) the filter bank and FFT plans.
    public init(height: Int, width: Int, scales: Int = 2, angles: Int = 8) throws(TallyError) {
        try self.init(height: height, width: width, scales: scales, angles: angles, variant: .kymatio)
    }

    /// `variant` departs from Kymatio on purpose; tests use it to show the comparison can fail.
    init(height: Int, width: Int, scales: Int, angles: Int, variant: ScatteringVariant) throws(TallyError) {
        guard (1...8).contains(scales), (1...64).contains(angles) else {
            throw TallyError(.invalidArgument, "scattering needs 1...8 scales and 1...64 angles, got J=\(scales), L=\(angles)")
        }
        let step = 1 << scales
        // The cap bounds the filter bank's construction (25 periods of every filter over the padded
        // image) and the per-thread buffers; ScatterNet features are for small images.
        guard height >= step, width >= step, height <= 512, width <= 512 else {
            throw TallyError(
                .invalidArgument, "a \(height)×\(width) image cannot be scattered with J=\(scales): each side must be in 2^J...512")
        }
        let geometry = ScatteringGeometry(height: height, width: width, scales: scales)
        // Reflection padding (numpy 'reflect', torch ReflectionPad2d) needs a pad below the side.
        guard geometry.padTop < height, geometry.padBottom < height, geometry.padLeft < width, geometry.padRight < width else {
            throw TallyError(
                .invalidArgument,
                "a \(height)×\(width) image is too small for J=\(scales): it would be padded to \(geometry.paddedHeight)×\(geometry.paddedWidth)"
            )
        }
        self.height = height
        self.width = width
        self.scales = scales
        self.angles = angles
        self.channelCount = 1 + scales * angles + angles * angles * scales * (scales - 1) / 2
        self.outputHeight = (geometry.paddedHeight >> scales) - 2
        self.outputWidth = (geometry.paddedWidth >> scales) - 2
        self.bank = ScatteringBank.shared(geometry: geometry, angles: angles, variant: variant)
    }

    /// FFT buffers for one thread. Reusing one across calls avoids an allocation per image.
    public func makeWorkspace() -> ScatteringWorkspace {
        ScatteringWorkspace(count: bank.geometry.paddedHeight * bank.geometry.paddedWidth)
    }

    /// Transforms one image (`inputCount` values, row-major) into `outputCount` values.
    public func transform(_ image: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        transform(image, into: output, workspace: makeWorkspace())
    }

    /// As ``transform(_:into:)``, with a caller's workspace (one per thread).
    public func transform(
        _ image: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, workspace: ScatteringWorkspace
    ) {
        precondition(image.count == inputCount, "the image has \(image.count) values, expected \(height)×\(width)")
        precondition(output.count == outputCount, "the output has room for \(output.count) values, expected \(outputCount)")
        precondition(workspace.count == bank.geometry.paddedHeight * bank.geometry.paddedWidth, "a workspace of another transform")
        bank.run(image: image, output: output, workspace: workspace)
    }

    /// The transform of one image as a new array.
    public func transform(_ image: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: outputCount) { out, initialized in
            image.withUnsafeBufferPointer { transform($0, into: out) }
            initialized = outputCount
        }
    }
}

/// Deliberate departures from Kymatio, for tests that check a wrong transform is caught.
struct ScatteringVariant: Hashable, Sendable {
    /// φ's σ is `lowPassSigma` · 2^(J−1); Kymatio's is 0.8.
    var lowPassSigma = 0.8
    /// Kymatio takes the modulus after each wavelet; without it the real part is kept.
    var modulus = true

    static let kymatio = ScatteringVariant()
}

/// Padded size and padding, as Kymatio's `compute_padding` and 2-D frontend choose them.
struct ScatteringGeometry: Hashable, Sendable {
    let height: Int
    let width: Int
    let scales: Int
    let paddedHeight: Int
    let paddedWidth: Int
    let padTop: Int
    let padBottom: Int
    let padLeft: Int
    let padRight: Int

    init(height: Int, width: Int, scales: Int) {
        let step = 1 << scales
        self.height = height
        self.width = width
        self.scales = scales
        // At least one full period 2^J beyond the image, so the crop below removes border effects.
        paddedHeight = ((height + step) / step + 1) * step
        paddedWidth = ((width + step) / step + 1) * step
        padTop = (paddedHeight - height) / 2
        padBottom = (paddedHeight - height + 1) / 2
        padLeft = (paddedWidth - width) / 2
        padRight = (paddedWidth - width + 1) / 2
    }
}

/// FFT buffers for one thread: five complex arrays of the padded size, from `fftw_alloc_complex`
/// so they have the alignment the plans were made with (FFTW's new-array execute requires it).
public final class ScatteringWorkspace {
    let count: Int
    let buffers: [UnsafeMutablePointer<Double>]

    init(count: Int) {
        self.count = count
        buffers = (0..<5).map { _ in
            let raw = UnsafeMutableRawPointer(fftw_alloc_complex(count)!)
            return raw.bindMemory(to: Double.self, capacity: 2 * count)
        }
    }

    deinit {
        for buffer in buffers { fftw_free(buffer) }
    }
}

/// The filters and FFT plans for one geometry, built once and shared (read-only) by every thread.
///
/// FFTW plans are only ever run through `fftw_execute_dft` on new arrays, which FFTW documents as
/// thread-safe; planning and destruction, which are not, happen under the process-wide
/// ``FFTWPlanner`` lock, which the accountant's FFTs take too.
final class ScatteringBank: @unchecked Sendable {
    private struct Key: Hashable {
        let geometry: ScatteringGeometry
        let angles: Int
        let variant: ScatteringVariant
    }

    /// The banks built so far; building one happens under this lock, so it is built once.
    private static let banks = Mutex<[Key: ScatteringBank]>([:])

    let geometry: ScatteringGeometry
    let angles: Int
    let variant: ScatteringVariant
    /// φ in the Fourier domain at resolutions 0..<J (periodized to (M/2^r) × (N/2^r)).
    let phi: [[Double]]
    /// ψ_{j,θ} in the Fourier domain, index j·L + θ, at resolutions 0..<min(j+1, max(J−1, 1)).
    let psi: [[[Double]]]
    /// Forward and backward 2-D DFT plans at resolutions 0...J.
    private let forwardPlans: [OpaquePointer]
    private let backwardPlans: [OpaquePointer]

    static func shared(geometry: ScatteringGeometry, angles: Int, variant: ScatteringVariant) -> ScatteringBank {
        let key = Key(geometry: geometry, angles: angles, variant: variant)
        return banks.withLock { cache in
            if let bank = cache[key] { return bank }
            let bank = ScatteringBank(geometry: geometry, angles: angles, variant: variant)
            cache[key] = bank
            return bank
        }
    }

    /// Called with ``banks`` held.
    private init(geometry: ScatteringGeometry, angles: Int, variant: ScatteringVariant) {
        self.geometry = geometry
        self.angles = angles
        self.variant = variant
        var forward: [OpaquePointer] = []
        var backward: [OpaquePointer] = []
        for level in 0...geometry.scales {
            let rows = geometry.paddedHeight >> level
            let columns = geometry.paddedWidth >> level
            let input = fftw_alloc_complex(rows * columns)!
            let output = fftw_alloc_complex(rows * columns)!
            // FFTW_ESTIMATE never touches the arrays while planning.
            FFTWPlanner.withLock {
                forward.append(fftw_plan_dft_2d(Int32(rows), Int32(columns), input, output, FFTW_FORWARD, UInt32(FFTW_ESTIMATE))!)
                backward.append(fftw_plan_dft_2d(Int32(rows), Int32(columns), input, output, FFTW_BACKWARD, UInt32(FFTW_ESTIMATE))!)
            }
            fftw_free(input)
            fftw_free(output)
        }
        forwardPlans = forward
        backwardPlans = backward
        let filters = MorletFilterBank.make(
            rows: geometry.paddedHeight, columns: geometry.paddedWidth, scales: geometry.scales, angles: angles,
            lowPassSigma: variant.lowPassSigma, forwardPlan: forward[0])
        phi = filters.phi
        psi = filters.psi
    }

    deinit {
        let plans = forwardPlans + backwardPlans
        FFTWPlanner.withLock {
            for plan in plans { fftw_destroy_plan(plan) }
        }
    }

    /// Kymatio's `scattering2d` core for one image.
    func run(image: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, workspace: ScatteringWorkspace) {
        let J = geometry.scales
        let u0 = workspace.buffers[0]
        let u1 = workspace.buffers[1]
        let a = workspace.buffers[2]
        let b = workspace.buffers[3]
        let c = workspace.buffers[4]

        // U_0 = DFT of the reflect-padded image.
        pad(image, into: a)
        execute(forwardPlans[0], a, u0)

        lowPass(u0, level: 0, scratch: (a, b), channel: 0, output: output)
        let firstOrder = J * angles
        var secondChannel = 1 + firstOrder
        for n1 in 0..<firstOrder {
            let j1 = n1 / angles
            // U_1 = DFT |x ⋆ ψ_{j1,θ1}| at resolution j1 (the convolution's spectrum is periodized
            // by 2^j1 before the inverse DFT, which subsamples it in space).
            multiplyAndPeriodize(u0, level: 0, filter: psi[n1][0], factor: 1 << j1, into: a)
            execute(backwardPlans[j1], a, b)
            modulus(b, level: j1, into: a)
            execute(forwardPlans[j1], a, u1)
            lowPass(u1, level: j1, scratch: (a, b), channel: 1 + n1, output: output)

            for n2 in (j1 + 1) * angles..<firstOrder { // j2 > j1
                let j2 = n2 / angles
                multiplyAndPeriodize(u1, level: j1, filter: psi[n2][j1], factor: 1 << (j2 - j1), into: a)
                execute(backwardPlans[j2], a, b)
                modulus(b, level: j2, into: a)
                execute(forwardPlans[j2], a, c)
                lowPass(c, level: j2, scratch: (a, b), channel: secondChannel, output: output)
                secondChannel += 1
            }
        }
        assert(secondChannel == 1 + firstOrder + angles * angles * J * (J - 1) / 2)
    }

    /// S = (U ⋆ φ_J) subsampled to resolution J, cropped by one pixel per border, into `channel`.
    private func lowPass(
        _ spectrum: UnsafeMutablePointer<Double>, level: Int, scratch: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>),
        channel: Int, output: UnsafeMutableBufferPointer<Float>
    ) {
        let J = geometry.scales
        multiplyAndPeriodize(spectrum, level: level, filter: phi[level], factor: 1 << (J - level), into: scratch.0)
        execute(backwardPlans[J], scratch.0, scratch.1)
        let rows = geometry.paddedHeight >> J
        let columns = geometry.paddedWidth >> J
        let scale = 1 / Double(rows * columns) // FFTW's inverse is unnormalized; ifft2's is not
        let outRows = rows - 2
        let outColumns = columns - 2
        var o = channel * outRows * outColumns
        for r in 1...outRows {
            for q in 1...outColumns {
                output[o] = Float(scratch.1[2 * (r * columns + q)] * scale) // the real part
                o += 1
            }
        }
    }

    /// Kymatio's `cdgmm` then `subsample_fourier`: the spectrum at `level` times the real filter,
    /// periodized by `factor` (the mean of the factor² aliases of each output frequency).
    private func multiplyAndPeriodize(
        _ spectrum: UnsafeMutablePointer<Double>, level: Int, filter: [Double], factor: Int, into out: UnsafeMutablePointer<Double>
    ) {
        let rows = geometry.paddedHeight >> level
        let columns = geometry.paddedWidth >> level
        let outRows = rows / factor
        let outColumns = columns / factor
        let scale = 1 / Double(factor * factor)
        filter.withUnsafeBufferPointer { f in
            // Alias (i, j) of output row r is a contiguous run of input row r + i·outRows, so the
            // innermost loop is over contiguous columns; each output sums its aliases in (i, j) order.
            for r in 0..<outRows {
                let o = out + 2 * r * outColumns
                for i in 0..<factor {
                    for j in 0..<factor {
                        let index = (r + i * outRows) * columns + j * outColumns
                        let s = spectrum + 2 * index
                        let w = f.baseAddress! + index
                        if i == 0 && j == 0 {
                            for q in 0..<outColumns {
                                o[2 * q] = s[2 * q] * w[q]
                                o[2 * q + 1] = s[2 * q + 1] * w[q]
                            }
                        } else {
                            for q in 0..<outColumns {
                                o[2 * q] += s[2 * q] * w[q]
                                o[2 * q + 1] += s[2 * q + 1] * w[q]
                            }
                        }
                    }
                }
                if factor > 1 {
                    for q in 0..<(2 * outColumns) { o[q] *= scale }
                }
            }
        }
    }

    /// |ifft| as a complex array with zero imaginary part (the real part in the test variant).
    private func modulus(_ unnormalized: UnsafeMutablePointer<Double>, level: Int, into out: UnsafeMutablePointer<Double>) {
        let count = (geometry.paddedHeight >> level) * (geometry.paddedWidth >> level)
        let scale = 1 / Double(count)
        if variant.modulus {
            for i in 0..<count {
                let re = unnormalized[2 * i] * scale
                let im = unnormalized[2 * i + 1] * scale
                out[2 * i] = (re * re + im * im).squareRoot()
                out[2 * i + 1] = 0
            }
        } else {
            for i in 0..<count {
                out[2 * i] = unnormalized[2 * i] * scale
                out[2 * i + 1] = 0
            }
        }
    }

    /// Reflection padding without repeating the edge (numpy 'reflect'), as complex values.
    private func pad(_ image: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Double>) {
        let (height, width) = (geometry.height, geometry.width)
        func reflect(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i) }
        var o = 0
        for r in 0..<geometry.paddedHeight {
            let row = reflect(r - geometry.padTop, height) * width
            for q in 0..<geometry.paddedWidth {
                out[o] = Double(image[row + reflect(q - geometry.padLeft, width)])
                out[o + 1] = 0
                o += 2
            }
        }
    }

    private func execute(_ plan: OpaquePointer, _ input: UnsafeMutablePointer<Double>, _ output: UnsafeMutablePointer<Double>) {
        fftw_execute_dft(
            plan, UnsafeMutableRawPointer(input).assumingMemoryBound(to: fftw_complex.self),
            UnsafeMutableRawPointer(output).assumingMemoryBound(to: fftw_complex.self))
    }
}
