internal import CFFTW
internal import Synchronization

/// Double-precision real FFTs through FFTW (r2c / c2r), used to convolve privacy-loss distributions.
///
/// FFTW's planner is not thread-safe (only the `fftw_execute*` family is), so planning and plan
/// destruction are serialized by one process-wide lock. Plans are cached by (length, direction)
/// and run with FFTW's new-array execute on buffers from `fftw_alloc_*` (same SIMD alignment as
/// at planning time), so repeated accounting at the same size does not re-plan.
enum RealFFT {
    /// Largest transform length the accountants will allocate (2^24 points: 128 MiB of reals plus
    /// 128 MiB of complex coefficients).
    static let maxLength = 1 << 24

    /// The spectrum X_k = Σ_j x_j e^{−2πijk/L}, k = 0…L/2, of `input` zero-padded to `length`,
    /// as interleaved (re, im) pairs.
    static func forward(_ input: UnsafeBufferPointer<Double>, length: Int) -> [Double] {
        precondition(length >= max(1, input.count) && length <= maxLength)
        let half = length / 2 + 1
        let plan = FFTPlan.cached(length: length, forward: true)
        let real = fftw_alloc_real(length)!
        let complex = fftw_alloc_complex(half)!
        defer { fftw_free(real); fftw_free(complex) }
        if let base = input.baseAddress { real.update(from: base, count: input.count) }
        (real + input.count).initialize(repeating: 0, count: length - input.count)
        fftw_execute_dft_r2c(plan.handle, real, complex)
        return complex.withMemoryRebound(to: Double.self, capacity: 2 * half) {
            Array(UnsafeBufferPointer(start: $0, count: 2 * half))
        }
    }

    /// The unnormalized inverse: y_j = Σ_k Y_k e^{2πijk/L} (L times the inverse DFT) for the
    /// Hermitian spectrum given as L/2+1 interleaved (re, im) pairs.
    static func inverse(_ spectrum: [Double], length: Int) -> [Double] {
        let half = length / 2 + 1
        precondition(spectrum.count == 2 * half && length <= maxLength)
        let plan = FFTPlan.cached(length: length, forward: false)
        let real = fftw_alloc_real(length)!
        let complex = fftw_alloc_complex(half)!
        defer { fftw_free(real); fftw_free(complex) }
        complex.withMemoryRebound(to: Double.self, capacity: 2 * half) { dst in
            spectrum.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: 2 * half) }
        }
        fftw_execute_dft_c2r(plan.handle, complex, real)
        return Array(UnsafeBufferPointer(start: real, count: length))
    }
}

/// A cached FFTW plan. The handle is immutable after planning and only used with FFTW's
/// thread-safe new-array execute; it is destroyed (under ``FFTWPlanner``) when the last holder
/// lets go, so evicting it from the cache while another thread runs it is safe.
private final class FFTPlan: @unchecked Sendable {
    private struct Key: Hashable { let length: Int; let forward: Bool }
    private static let cache = Mutex<[Key: FFTPlan]>([:])
    private static let maxCached = 8

    let handle: OpaquePointer

    private init(handle: OpaquePointer) { self.handle = handle }

    deinit {
        let handle = handle
        FFTWPlanner.withLock { fftw_destroy_plan(handle) }
    }

    static func cached(length: Int, forward: Bool) -> FFTPlan {
        // Evicted plans are released after the lock is dropped: their deinit takes the lock.
        var evicted: [FFTPlan] = []
        defer { evicted.removeAll() }
        return Self.cache.withLock { cache -> FFTPlan in
            let key = Key(length: length, forward: forward)
            if let plan = cache[key] { return plan }
            let half = length / 2 + 1
            let real = fftw_alloc_real(length)!
            let complex = fftw_alloc_complex(half)!
            defer { fftw_free(real); fftw_free(complex) }
            // FFTW_ESTIMATE never touches the arrays while planning.
            let handle = FFTWPlanner.withLock {
                forward
                    ? fftw_plan_dft_r2c_1d(Int32(length), real, complex, UInt32(FFTW_ESTIMATE))!
                    : fftw_plan_dft_c2r_1d(Int32(length), complex, real, UInt32(FFTW_ESTIMATE))!
            }
            if cache.count >= maxCached {
                evicted = Array(cache.values)
                cache.removeAll()
            }
            let plan = FFTPlan(handle: handle)
            cache[key] = plan
            return plan
        }
    }
}
