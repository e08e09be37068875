import Foundation
import GRDB
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `tally-audit` against hostile inputs (issues #14 and #15): files that are not regular files,
/// signed entries with absurd parameters, a low-noise round, and `report --ca`. Every process a
/// test starts is bounded by a timeout and killed if it overruns; every FIFO made is removed.
@Suite struct AuditCommandTests {
    static let audit = TestEnvironment.executables + "/tally-audit"

    static func run(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> Subprocess.Completion {
        try await Subprocess.run(audit, arguments, timeout: timeout)
    }

    /// A coordinator ledger (test PKI) with realistic rounds, plus `extra` entries appended as-is.
    static func ledger(_ label: String, rounds: Int = 3, extra: [LedgerEntry] = []) throws -> String {
        let path = try TestDirectories.make(label) + "/ledger.sqlite"
        let identity = try TestPKI.shared.coordinator
        let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
        for round in 1...rounds { try ledger.append(realistic(round: UInt64(round))) }
        for entry in extra { try ledger.append(entry) }
        return path
    }

    static func realistic(round: UInt64, participants: [UInt32] = [1, 2, 3], l2Sensitivity: Double = 7800) -> LedgerEntry {
        LedgerEntry(
            roundID: round, modelVersion: Int64(round), modelHash: String(repeating: "ab", count: 32), participants: participants,
            cohortSize: 3, privacyUnit: LedgerEntry.organizationUnit, samplingRate: 1, clipNorm: 1, noiseMultiplier: 1,
            mechanism: LedgerEntry.distributedDiscreteGaussian, shareSigmaSquared: 2e7, noiseShares: 3, threshold: 3,
            collusionMargin: 0, l2Sensitivity: l2Sensitivity, dimension: 8192, deltaClamp: 0, recordedAt: 1_800_000_000)
    }

    static func makeFIFO(_ path: String) throws {
        guard mkfifo(path, 0o600) == 0 else { throw TallyError(.invalidArgument, "mkfifo \(path) failed: errno \(errno)") }
    }

    /// Positive control: a FIFO with no writer blocks a reader that does not check what it opens
    /// (`head` here; SQLite did the same inside `tally-audit`). `tally-audit` then refuses the FIFO
    /// as the ledger, as a `-wal` companion and as the CA file, and returns at once.
    @Test func aFIFOIsRefusedNotWaitedOn() async throws {
        let directory = try TestDirectories.make("audit-fifo")
        let fifo = directory + "/ledger.sqlite"
        try Self.makeFIFO(fifo)
        defer { unlink(fifo) }
        let naive = try Subprocess("/usr/bin/head", ["-c", "1", fifo])
        #expect(await naive.exited(within: .seconds(2)) == nil, "a plain read of a FIFO blocks")
        naive.stop(signal: SIGKILL)

        for command in ["verify", "report"] {
            let result = try await Self.run([command, fifo], timeout: .seconds(30))
            #expect(result.status == 2, "\(command): \(result.output)")
            #expect(result.output.contains("\(fifo) is not a regular file"), "\(result.output)")
        }
        // A FIFO beside a real ledger, where SQLite looks for its write-ahead log.
        let ledger = try Self.ledger("audit-wal-fifo")
        unlink(ledger + "-wal")
        try Self.makeFIFO(ledger + "-wal")
        defer { unlink(ledger + "-wal") }
        let wal = try await Self.run(["verify", ledger], timeout: .seconds(30))
        #expect(wal.status == 2 && wal.output.contains("\(ledger)-wal, beside the ledger"), "\(wal.output)")
        // A FIFO given as the CA.
        unlink(ledger + "-wal")
        let caFIFO = directory + "/ca.pem"
        try Self.makeFIFO(caFIFO)
        defer { unlink(caFIFO) }
        for command in ["verify", "report"] {
            let result = try await Self.run([command, ledger, "--ca", caFIFO], timeout: .seconds(30))
            #expect(result.status == 2 && result.output.contains("is not a regular file"), "\(command): \(result.output)")
        }
    }

    /// `report` checks signer certificates against a CA exactly as `verify` does, and a published
    /// head too.
    @Test func reportTakesTheCAAndHeadLikeVerify() async throws {
        let ledger = try Self.ledger("audit-report-ca")
        let ca = TestPKI.shared.directory + "/ca/ca.crt", other = TestPKI.shared.otherDirectory + "/ca/ca.crt"
        for command in ["verify", "report"] {
            let good = try await Self.run([command, ledger, "--ca", ca])
            #expect(good.status == 0, "\(command): \(good.output)")
            let wrong = try await Self.run([command, ledger, "--ca", other])
            #expect(wrong.status == 1, "\(command): \(wrong.output)")
            #expect(wrong.output.contains("was not issued by the CA"), "\(command): \(wrong.output)")
            let head = try await Self.run([command, ledger, "--head", String(repeating: "0", count: 64)])
            #expect(head.status == 1 && head.output.contains("is not in the ledger"), "\(command): \(head.output)")
            // A head that is not a hash at all is a usage error, not an altered ledger.
            let malformed = try await Self.run([command, ledger, "--head", "zz"])
            #expect(malformed.status == 64 && malformed.output.contains("64 hex digits"), "\(command): \(malformed.output)")
            #expect(!malformed.output.contains("ALTERED"))
        }
    }

    /// A validly signed ledger (a hostile or broken writer) whose third entry claims 2⁶² noise
    /// shares. Positive control: `verify` accepts it (the signatures are genuine). `report` used
    /// to loop on it for ever; now it names the record and round and stops.
    @Test func aSignedEntryWithAbsurdParametersIsNamedNotLoopedOn() async throws {
        let ledger = try Self.ledger("audit-hostile", rounds: 2)
        let identity = try TestPKI.shared.coordinator
        var hostile = Self.realistic(round: 3)
        hostile.noiseShares = 1 << 62
        hostile.cohortSize = 1 << 62
        let last = try PrivacyLedger.openForAudit(path: ledger).records().last!
        let body = try hostile.canonicalBytes()
        let hash = LedgerRecord.chainHash(
            format: .v2, sequence: 3, previousHash: last.hash, certificatePEM: identity.certificatePEM, body: body)
        let signature = try identity.key.signature(for: hash)
        try await DatabaseQueue(path: ledger).write { db in
            try db.execute(
                sql: "INSERT INTO ledger_records VALUES (3, ?, ?, ?, ?, ?, 2)",
                arguments: [Data(last.hash), Data(body), Data(hash), Data(signature), identity.certificatePEM])
        }
        let verified = try await Self.run(["verify", ledger])
        #expect(verified.status == 0, "the hostile record is genuinely signed: \(verified.output)")
        let report = try await Self.run(["report", ledger], timeout: .seconds(120))
        #expect(report.status == 2, "\(report.output)")
        #expect(
            report.output.contains("record 3: ledger entry for round 3: cohort size 4611686018427387904 is over the limit"),
            "\(report.output)")
    }

    /// Issue #15: one low-noise round used to make `report` fail for good ("use a coarser
    /// interval", which it had no option for). Now it reports the RDP bound and says why the PLD
    /// is missing; `--pld-interval` reaches it, `--accountant rdp` skips it.
    @Test func aLowNoiseRoundStillGetsAReport() async throws {
        let ledger = try Self.ledger("audit-low-noise", extra: [Self.realistic(round: 4, l2Sensitivity: 387_000)])
        let table = try await Self.run(["report", ledger])
        #expect(table.status == 0, "\(table.output)")
        #expect(table.output.contains("ε (RDP)"))
        #expect(
            table.output.contains(
                "ε (PLD) — for the federation, participant 1, participant 2, participant 3: cannot be computed at PLD interval 0.0001"),
            "\(table.output)")

        let json = try await Self.run(["report", ledger, "--format", "json"])
        #expect(json.status == 0, "\(json.output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let rows = try #require((document["report"] as? [String: Any])?["rows"] as? [[String: Any]])
        #expect(rows.count == 4)
        for row in rows {
            #expect((row["epsilonRDP"] as? Double).map { $0.isFinite && $0 > 0 } == true)
            #expect(row["epsilonPLD"] is NSNull)
            #expect((row["pldUnavailable"] as? String)?.contains("the RDP bound stands") == true)
        }

        let coarse = try await Self.run(["report", ledger, "--pld-interval", "1e-3", "--format", "csv"])
        #expect(coarse.status == 0, "\(coarse.output)")
        let federation = try #require(coarse.output.split(separator: "\n").first { $0.hasPrefix("federation,") })
        let cells = federation.split(separator: ",", omittingEmptySubsequences: false)
        #expect(Double(cells[3]) != nil, "the PLD column is filled at 1e-3: \(federation)")

        let rdp = try await Self.run(["report", ledger, "--accountant", "rdp"])
        #expect(rdp.status == 0 && !rdp.output.contains("ε (PLD)") && rdp.output.contains("ε (RDP)"), "\(rdp.output)")
        let pld = try await Self.run(["report", ledger, "--accountant", "pld", "--pld-interval", "1e-3"])
        #expect(pld.status == 0 && pld.output.contains("ε (PLD)") && !pld.output.contains("ε (RDP)  "), "\(pld.output)")
    }
}
