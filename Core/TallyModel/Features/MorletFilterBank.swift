internal import CFFTW

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Kymatio's 2-D filter bank (`kymatio/scattering2d/filter_bank.py`), in the Fourier domain.
///
/// Ported constant for constant, since the features must match Kymatio's to ~1e-4: the Gabor
/// normalization 2·3.1415·σ²/slant (3.1415, not π), the rotation matrix rounded to float32 (Kymatio
/// builds it with `np.float32`), the 5×5 periodic sum of the spatial filter over neighbouring
/// periods, the real part of its DFT, and `periodize_filter_fft`'s masked alias sum. Kymatio then
/// rounds the filters to float32; they stay in double here (a ~1e-7 relative difference).
enum MorletFilterBank {
    /// φ at resolutions 0..<J and ψ_{j,θ} (index j·L + θ) at resolutions 0..<min(j+1, max(J−1, 1)),
    /// each resolution r a (rows/2^r) × (columns/2^r) row-major array.
    static func make(
        rows: Int, columns: Int, scales J: Int, angles L: Int, lowPassSigma: Double, forwardPlan: OpaquePointer
    ) -> (phi: [[Double]], psi: [[[Double]]]) {
        var psi: [[[Double]]] = []
        for j in 0..<J {
            for theta in 0..<L {
                // Kymatio: theta = (int(L - L/2 - 1) - θ)·π/L, σ = 0.8·2^j, ξ = 3π/4 / 2^j, slant 4/L.
                let angle = Double(Int(Double(L) - Double(L) / 2 - 1) - theta) * Double.pi / Double(L)
                let spatial = morlet(
                    rows: rows, columns: columns, sigma: 0.8 * Double(1 << j), theta: angle,
                    xi: 3.0 / 4.0 * Double.pi / Double(1 << j), slant: 4.0 / Double(L))
                let fourier = realDFT(spatial, count: rows * columns, plan: forwardPlan)
                let levels = min(j + 1, max(J - 1, 1))
                psi.append((0..<levels).map { periodize(fourier, rows: rows, columns: columns, resolution: $0) })
            }
        }
        // Kymatio's φ has σ = 0.8·2^(J−1) (not 2^J), no modulation and slant 1.
        let lowPass = gabor(
            rows: rows, columns: columns, sigma: lowPassSigma * Double(1 << (J - 1)), theta: 0, xi: 0, slant: 1)
        let fourier = realDFT(lowPass, count: rows * columns, plan: forwardPlan)
        let phi = (0..<J).map { periodize(fourier, rows: rows, columns: columns, resolution: $0) }
        return (phi, psi)
    }

    /// `gabor_2d`: g_σ(u)·e^{i ξ·(cos θ, sin θ)·u}, with Gaussian covariance rotated by θ and
    /// squeezed by `slant`, summed over the 5×5 neighbouring periods; interleaved (re, im).
    static func gabor(rows M: Int, columns N: Int, sigma: Double, theta: Double, xi: Double, slant: Double) -> [Double] {
        // R and R⁻¹ are float32 in Kymatio; D is float64, so curv is float64 of float32 entries.
        let c = Double(Float(cos(theta)))
        let s = Double(Float(sin(theta)))
        let d = slant * slant
        // curv = R · diag(1, slant²) · R⁻¹ / (2σ²), R = [[c, −s], [s, c]], R⁻¹ = [[c, s], [−s, c]].
        let denominator = 2 * sigma * sigma
        let c00 = (c * c + s * s * d) / denominator
        let c01 = (c * s - s * c * d) / denominator
        let c10 = (s * c - c * s * d) / denominator
        let c11 = (s * s + c * c * d) / denominator
        let kx = xi * cos(theta)
        let ky = xi * sin(theta)
        var out = [Double](repeating: 0, count: 2 * M * N)
        for ex in -2...2 {
            for ey in -2...2 {
                for a in 0..<M {
                    let x = Double(a + ex * M)
                    for b in 0..<N {
                        let y = Double(b + ey * N)
                        let magnitude = exp(-(c00 * x * x + (c01 + c10) * x * y + c11 * y * y))
                        let phase = x * kx + y * ky
                        out[2 * (a * N + b)] += magnitude * cos(phase)
                        out[2 * (a * N + b) + 1] += magnitude * sin(phase)
                    }
                }
            }
        }
        let normalization = 2 * 3.1415 * sigma * sigma / slant // Kymatio's constant, kept as is
        for i in out.indices { out[i] /= normalization }
        return out
    }

    /// `morlet_2d`: a Gabor filter minus β times its envelope, β chosen for zero mean.
    static func morlet(rows: Int, columns: Int, sigma: Double, theta: Double, xi: Double, slant: Double) -> [Double] {
        let wave = gabor(rows: rows, columns: columns, sigma: sigma, theta: theta, xi: xi, slant: slant)
        let envelope = gabor(rows: rows, columns: columns, sigma: sigma, theta: theta, xi: 0, slant: slant)
        var (waveRe, waveIm, envRe, envIm) = (0.0, 0.0, 0.0, 0.0)
        for i in 0..<(rows * columns) {
            waveRe += wave[2 * i]
            waveIm += wave[2 * i + 1]
            envRe += envelope[2 * i]
            envIm += envelope[2 * i + 1]
        }
        // K = Σ wave / Σ envelope (complex division).
        let norm = envRe * envRe + envIm * envIm
        let kRe = (waveRe * envRe + waveIm * envIm) / norm
        let kIm = (waveIm * envRe - waveRe * envIm) / norm
        var out = wave
        for i in 0..<(rows * columns) {
            let (re, im) = (envelope[2 * i], envelope[2 * i + 1])
            out[2 * i] -= kRe * re - kIm * im
            out[2 * i + 1] -= kRe * im + kIm * re
        }
        return out
    }

    /// The real part of the 2-D DFT (Kymatio drops the imaginary part, ~0 for these filters).
    static func realDFT(_ spatial: [Double], count: Int, plan: OpaquePointer) -> [Double] {
        let input = fftw_alloc_complex(count)!
        let output = fftw_alloc_complex(count)!
        defer {
            fftw_free(input)
            fftw_free(output)
        }
        UnsafeMutableRawPointer(input).withMemoryRebound(to: Double.self, capacity: 2 * count) { dst in
            spatial.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: 2 * count) }
        }
        fftw_execute_dft(plan, input, output)
        return UnsafeMutableRawPointer(output).withMemoryRebound(to: Double.self, capacity: 2 * count) { spectrum in
            (0..<count).map { spectrum[2 * $0] }
        }
    }

    /// `periodize_filter_fft`: zero the frequencies that would alias at resolution `resolution`,
    /// then sum the 2^r × 2^r aliases of each frequency of the (M/2^r) × (N/2^r) grid.
    static func periodize(_ x: [Double], rows M: Int, columns N: Int, resolution res: Int) -> [Double] {
        let factor = 1 << res
        let lengthX = Int(Double(M) * (1 - 1 / Double(factor)))
        let startX = Int(Double(M) / Double(2 * factor))
        let lengthY = Int(Double(N) * (1 - 1 / Double(factor)))
        let startY = Int(Double(N) / Double(2 * factor))
        let outRows = M / factor
        let outColumns = N / factor
        var crop = [Double](repeating: 0, count: outRows * outColumns)
        for k in 0..<outRows {
            for l in 0..<outColumns {
                var sum = 0.0
                for i in 0..<factor {
                    let row = k + i * outRows
                    if row >= startX && row < startX + lengthX { continue }
                    for j in 0..<factor {
                        let column = l + j * outColumns
                        if column >= startY && column < startY + lengthY { continue }
                        sum += x[row * N + column]
                    }
                }
                crop[k * outColumns + l] = sum
            }
        }
        return crop
    }
}
