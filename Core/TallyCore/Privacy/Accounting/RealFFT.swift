internal import CFFTW
internal import Synchronization

/// Double-precision real FFTs through FFTW (r2c / c2r), used to convolve privacy-loss distributions.
///
/// FFTW's planner is not thread-safe (only `fftw_execute*` is), so planning and plan destruction
/// are serialized by one process-wide lock; transforms themselves run concurrently.
enum RealFFT {
    private static let plannerLock = Mutex<Void>(())

    /// Largest transform length the accountants will allocate (2^24 points: 128 MiB of reals plus
    /// 128 MiB of complex coefficients).
    static let maxLength = 1 << 24

    /// The spectrum X_k = Σ_j x_j e^{−2πijk/L}, k = 0…L/2, of `input` zero-padded to `length`,
    /// as interleaved (re, im) pairs.
    static func forward(_ input: UnsafeBufferPointer<Double>, length: Int) -> [Double] {
        precondition(length >= max(1, input.count) && length <= maxLength)
        let half = length / 2 + 1
        let real = fftw_alloc_real(length)!
        let complex = fftw_alloc_complex(half)!
        defer { fftw_free(real); fftw_free(complex) }
        let plan = plannerLock.withLock { _ in
            UnsafeSendablePlan(fftw_plan_dft_r2c_1d(Int32(length), real, complex, UInt32(FFTW_ESTIMATE)))
        }
        real.initialize(repeating: 0, count: length)
        if let base = input.baseAddress { real.update(from: base, count: input.count) }
        fftw_execute(plan.plan)
        plannerLock.withLock { _ in fftw_destroy_plan(plan.plan) }
        return complex.withMemoryRebound(to: Double.self, capacity: 2 * half) { Array(UnsafeBufferPointer(start: $0, count: 2 * half)) }
    }

    /// The unnormalized inverse: y_j = Σ_k Y_k e^{2πijk/L} (L times the inverse DFT) for the
    /// Hermitian spectrum given as L/2+1 interleaved (re, im) pairs.
    static func inverse(_ spectrum: [Double], length: Int) -> [Double] {
        let half = length / 2 + 1
        precondition(spectrum.count == 2 * half && length <= maxLength)
        let real = fftw_alloc_real(length)!
        let complex = fftw_alloc_complex(half)!
        defer { fftw_free(real); fftw_free(complex) }
        let plan = plannerLock.withLock { _ in
            UnsafeSendablePlan(fftw_plan_dft_c2r_1d(Int32(length), complex, real, UInt32(FFTW_ESTIMATE)))
        }
        complex.withMemoryRebound(to: Double.self, capacity: 2 * half) { dst in
            spectrum.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: 2 * half) }
        }
        fftw_execute(plan.plan)
        plannerLock.withLock { _ in fftw_destroy_plan(plan.plan) }
        return Array(UnsafeBufferPointer(start: real, count: length))
    }
}

/// An FFTW plan handed out of the planner lock. Plans are only executed by the thread that made
/// them and destroyed under the lock, so crossing the lock boundary is safe.
private struct UnsafeSendablePlan: @unchecked Sendable {
    let plan: OpaquePointer?
    init(_ plan: OpaquePointer?) { self.plan = plan }
}
