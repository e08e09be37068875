import TallyCore
import Testing

@testable import TallyLedger

/// The running ε that budget checks and lineage use each round is the report's ε of the same
/// entries, however it was built up; asking about a next round changes nothing.
@Suite struct RunningEpsilonTests {
    @Test func entryByEntryEqualsTheWholeLedger() throws {
        // Mixed history: full-batch rounds with varying shares, a record-level run, an old clamped entry.
        let entries =
            (1...6).map { entry(round: UInt64($0), participants: [1, 2, 3, 4], noiseShares: 3 + $0 % 2) }
            + (7...12).map { entry(round: UInt64($0), samplingRate: 0.05, shareSigmaSquared: 4.0e8) }
            + [clampedEntry(round: 13, participants: [1, 2, 3], deltaClamp: 1e-9)]
        var running = try RunningEpsilon(delta: 1e-5)
        #expect(try running.epsilon() == 0)
        for (i, next) in entries.enumerated() {
            let before = try running.epsilon()
            let asked = try running.epsilon(adding: next)
            #expect(try running.epsilon() == before && running.rounds == i, "asking adds nothing")
            try running.add(next)
            let whole = try PrivacyReport.epsilonRDP(entries: Array(entries.prefix(i + 1)), delta: 1e-5)
            #expect(try running.epsilon() == asked && asked == whole, "round \(i + 1)")
            #expect(whole > before)
        }
        // An invalid entry is refused and leaves the account as it was.
        let before = try running.epsilon()
        #expect(throws: TallyError.self) { try running.add(entry(round: 14, samplingRate: 1.5)) }
        #expect(try running.epsilon() == before && running.rounds == entries.count)
    }
}
