import Foundation

/// Timing helpers: best of several runs (the least-disturbed one on a shared machine).
enum Measure {
    /// Seconds of the fastest of `repetitions` runs of `body`.
    static func best(repetitions: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<repetitions {
            let start = ContinuousClock.now
            try body()
            let elapsed = ContinuousClock.now - start
            best = min(best, elapsed.seconds)
        }
        return best
    }

    /// Runs `body` repeatedly for at least `minimumSeconds` and returns calls per second.
    static func rate(minimumSeconds: Double = 0.5, _ body: () throws -> Void) rethrows -> Double {
        var calls = 0
        let start = ContinuousClock.now
        var elapsed = 0.0
        repeat {
            try body()
            calls += 1
            let d = ContinuousClock.now - start
            elapsed = d.seconds
        } while elapsed < minimumSeconds
        return Double(calls) / elapsed
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// What every benchmark reports about where it ran.
struct MachineInfo: Encodable {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let memoryGiB = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    let date = ISO8601DateFormatter().string(from: Date())
}
