internal import Synchronization

/// The one process-wide lock around FFTW's planner. FFTW documents only its `fftw_execute*`
/// family as thread-safe; planning and destroying plans must be serialized across everything in
/// the process that uses FFTW (the accountant's convolutions here, the scattering transform in
/// TallyModel), not merely within each user.
public enum FFTWPlanner {
    private static let lock = Mutex<Void>(())

    /// Runs `body` (which plans or destroys FFTW plans) with the planner to itself. Never call
    /// FFTW's planner outside it, and never take another lock inside it.
    public static func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        try lock.withLock { _ in try body() }
    }
}
