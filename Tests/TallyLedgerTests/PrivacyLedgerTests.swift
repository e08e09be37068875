import Foundation
import GRDB
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyLedger

@Suite struct PrivacyLedgerTests {
    @Test func appendedEntriesVerifyIntact() throws {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.coordinator
        let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
        let written = (1...20).map { entry(round: UInt64($0)) }
        var previous = LedgerRecord.genesisHash
        for (index, e) in written.enumerated() {
            let record = try ledger.append(e)
            #expect(record.sequence == Int64(index + 1))
            #expect(record.previousHash == previous)
            #expect(record.body == (try e.canonicalBytes()))
            #expect(
                record.hash
                    == LedgerRecord.chainHash(
                        format: .v2, sequence: record.sequence, previousHash: previous, certificatePEM: identity.certificatePEM,
                        body: record.body))
            #expect(record.format == .v2)
            try identity.key.publicKey.verify(record.signature, for: record.hash)
            previous = record.hash
        }
        let verification = try ledger.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.records == 20)
        #expect(verification.headHash == previous)
        #expect(verification.signerCertificates == [identity.certificatePEM])
        #expect(verification.notes.isEmpty)
        #expect(try ledger.entries() == written)
        #expect(try ledger.records().map(\.sequence) == Array(1...20))
    }

    @Test func canonicalBytesAreSortedCompactJSON() throws {
        let bytes = try entry(round: 7).canonicalBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("{\"clipNorm\":1,\"cohortSize\":3,\"collusionMargin\":0,\"deltaClamp\":0,\"dimension\":8192,"))
        #expect(text.contains(",\"participants\":[1,2,3],\"privacyUnit\":\"organization\",\"recordedAt\":"))
        #expect(!bytes.contains(0x20) && !bytes.contains(0x0a))
        #expect(try LedgerEntry.decode(bytes) == entry(round: 7))
        // A participant's entry has no model version: the key is absent, not null.
        var local = entry(round: 7)
        local.modelVersion = nil
        #expect(!String(decoding: try local.canonicalBytes(), as: UTF8.self).contains("modelVersion"))
    }

    @Test func reopeningKeepsTheChain() throws {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.participant(1)
        let budget = PrivacyBudget(epsilon: 8, delta: 1e-6)
        do {
            let ledger = try PrivacyLedger(
                path: path, role: .participant(1), signingKey: identity.key,
                certificatePEM: identity.certificatePEM, budget: budget)
            for round in 1...5 { try ledger.append(entry(round: UInt64(round), participants: [1])) }
        }
        do {
            let ledger = try PrivacyLedger(
                path: path, role: .participant(1), signingKey: identity.key, certificatePEM: identity.certificatePEM)
            #expect(ledger.budget == budget)
            let record = try ledger.append(entry(round: 6, participants: [1]))
            #expect(record.sequence == 6)
            for round in 7...10 { try ledger.append(entry(round: UInt64(round), participants: [1])) }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let audit = try PrivacyLedger.openForAudit(path: path)
        #expect(audit.role == .participant(1))
        #expect(audit.budget == budget)
        let verification = try audit.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.records == 10)
        #expect(try audit.entries().map(\.roundID) == Array(1...10))
        #expect(throws: TallyError.self) { try audit.append(entry(round: 11, participants: [1])) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "an audit must not write to the ledger")
        // Another role cannot take the ledger over.
        let other = try TestPKI.shared.participant(2)
        #expect(throws: TallyError.self) {
            try PrivacyLedger(path: path, role: .participant(2), signingKey: other.key, certificatePEM: other.certificatePEM)
        }
        // A new budget replaces the stored one.
        let raised = PrivacyBudget(epsilon: 10, delta: 1e-6)
        _ = try PrivacyLedger(
            path: path, role: .participant(1), signingKey: identity.key, certificatePEM: identity.certificatePEM, budget: raised)
        #expect(try PrivacyLedger.openForAudit(path: path).budget == raised)
    }

    @Test func anAuditorReadsWhileTheOwnerAppends() throws {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.coordinator
        let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
        for round in 1...3 { try ledger.append(entry(round: UInt64(round))) }
        let audit = try PrivacyLedger.openForAudit(path: path)
        #expect(try audit.verify().records == 3)
        try ledger.append(entry(round: 4))
        let verification = try audit.verify()
        #expect(verification.isIntact && verification.records == 4)
        #expect(verification.headHash == (try ledger.records().last?.hash))
    }

    @Test func certificateMustBelongToTheKeyAndTheRole() throws {
        let coordinator = try TestPKI.shared.coordinator, participant = try TestPKI.shared.participant(1)
        let path = try temporaryLedgerPath()
        // A participant's certificate cannot sign the coordinator's ledger…
        #expect(throws: TallyError.self) {
            try PrivacyLedger(path: path, role: .coordinator, signingKey: participant.key, certificatePEM: participant.certificatePEM)
        }
        // …nor another participant's, and a certificate must be the key's.
        #expect(throws: TallyError.self) {
            try PrivacyLedger(path: path, role: .participant(2), signingKey: participant.key, certificatePEM: participant.certificatePEM)
        }
        #expect(throws: TallyError.self) {
            try PrivacyLedger(path: path, role: .coordinator, signingKey: participant.key, certificatePEM: coordinator.certificatePEM)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func appendRefusesEntriesThatCannotBeAccounted() throws {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.coordinator
        let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
        var unsorted = entry(round: 1)
        unsorted.participants = [3, 1, 2]
        var unknown = entry(round: 1)
        unknown.mechanism = "gaussian"
        var badRate = entry(round: 1)
        badRate.samplingRate = 0
        var notFinite = entry(round: 1)
        notFinite.deltaClamp = .nan
        for bad in [unsorted, unknown, badRate, notFinite, entry(round: 1, shareSigmaSquared: 0.1)] {
            #expect(throws: TallyError.self) { try ledger.append(bad) }
        }
        #expect(try ledger.verify().records == 0)
    }

    /// Each rule refuses a violating entry and accepts its valid neighbour.
    @Test func validationRules() throws {
        func check(_ change: (inout LedgerEntry) -> Void, valid: Bool, _ comment: Comment) {
            var e = entry(round: 1) // t = 3, c = 0, cohort 3, 3 shares
            change(&e)
            if valid {
                #expect(throws: Never.self, comment) { try e.validate() }
            } else {
                #expect(throws: TallyError.self, comment) { try e.validate() }
            }
        }
        // Noise shares: 0 (noiseless) or t − c … cohort size.
        check({ $0.noiseShares = 2 }, valid: false, "fewer than t − c shares")
        check({ $0.noiseShares = 3 }, valid: true, "t − c shares")
        check(
            {
                $0.noiseShares = 2; $0.collusionMargin = 1
            }, valid: true, "t − c shares with c = 1")
        check(
            {
                $0.noiseShares = 1; $0.collusionMargin = 1
            }, valid: false, "fewer than t − c shares with c = 1")
        check({ $0.noiseShares = 4 }, valid: false, "more shares than the cohort")
        check(
            {
                $0.noiseShares = 4; $0.cohortSize = 4
            }, valid: true, "as many shares as the cohort")
        check({ $0.noiseShares = 0 }, valid: true, "no shares: noiseless, ε = ∞")
        check({ $0.noiseShares = -1 }, valid: false, "negative shares")
        // Collusion margin: 0 ≤ c < t.
        check({ $0.collusionMargin = -1 }, valid: false, "negative collusion margin")
        check({ $0.collusionMargin = 3 }, valid: false, "collusion margin equal to the threshold")
        check({ $0.collusionMargin = 2 }, valid: true, "collusion margin t − 1")
        // Organization unit: no amplification by sampling.
        check({ $0.samplingRate = 0.5 }, valid: false, "sampled organization cohorts")
        check({ $0.samplingRate = 1 }, valid: true, "q = 1")
        // Privacy unit: only known ones.
        check({ $0.privacyUnit = "person" }, valid: false, "a unit this version does not account for")
        check({ $0.privacyUnit = "record"; $0.samplingRate = 0.01 }, valid: true, "Poisson-sampled records")
        check({ $0.privacyUnit = "record"; $0.samplingRate = 0 }, valid: false, "records never sampled")
        check({ $0.privacyUnit = "" }, valid: false, "an empty unit")
        // δ_clamp: 0 for the current mechanism, charged for the old one.
        check({ $0.deltaClamp = 1e-9 }, valid: false, "clamping probability on an unclamped mechanism")
        check(
            {
                $0.deltaClamp = 1e-9; $0.mechanism = LedgerEntry.clampedDistributedDiscreteGaussian
            }, valid: true, "the old clamped mechanism")
        check({ $0.mechanism = "distributed-discrete-gaussian/v3" }, valid: false, "an unknown mechanism")
    }

    /// A ledger written before privacyUnit and collusionMargin existed (old mechanism, δ_clamp > 0)
    /// still verifies, decodes with the defaults, and is reported on.
    @Test func aLedgerWithOldEntriesVerifiesAndDecodes() throws {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.coordinator
        let current = try {
            let ledger = try PrivacyLedger(
                path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
            try ledger.append(entry(round: 1))
            return try ledger.records()[0]
        }()
        // The bytes an old version wrote: no collusionMargin, no privacyUnit, the old mechanism.
        var text = String(decoding: try clampedEntry(round: 1, participants: [1, 2, 3], deltaClamp: 1e-9).canonicalBytes(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"collusionMargin\":0,", with: "")
        text = text.replacingOccurrences(of: "\"privacyUnit\":\"organization\",", with: "")
        #expect(!text.contains("collusionMargin") && !text.contains("privacyUnit"))
        let body = Array(text.utf8)
        let hash = LedgerRecord.chainHash(
            format: .v2, sequence: current.sequence, previousHash: current.previousHash, certificatePEM: identity.certificatePEM, body: body
        )
        let signature = try identity.key.signature(for: hash)
        try tamper(path) { db in
            try db.execute(
                sql: "UPDATE ledger_records SET body = ?, hash = ?, signature = ? WHERE sequence = 1",
                arguments: [Data(body), Data(hash), Data(signature)])
        }
        let reopened = try PrivacyLedger.openForAudit(path: path)
        #expect(try reopened.verify().isIntact)
        let old = try #require(try reopened.entries().first)
        #expect(old.collusionMargin == 0 && old.privacyUnit == LedgerEntry.organizationUnit)
        #expect(old.mechanism == LedgerEntry.clampedDistributedDiscreteGaussian && old.deltaClamp == 1e-9)
        #expect(old == clampedEntry(round: 1, participants: [1, 2, 3], deltaClamp: 1e-9))
        #expect(
            try PrivacyReport.epsilonRDP(entries: [old], delta: 1e-5) > PrivacyReport.epsilonRDP(entries: [entry(round: 1)], delta: 1e-5))
    }

    @Test func oneChangedByteIsDetected() throws {
        let path = try coordinatorLedger(entries: 20)
        try tamper(path) { db in
            var body = [UInt8](try Data.fetchOne(db, sql: "SELECT body FROM ledger_records WHERE sequence = 7")!)
            // Change one digit of the noise share count: "noiseShares":3 → 4.
            let pattern = Array("\"noiseShares\":3".utf8)
            let start = (0...(body.count - pattern.count)).first { Array(body[$0..<$0 + pattern.count]) == pattern }!
            let index = start + pattern.count - 1
            #expect(body[index] == UInt8(ascii: "3"))
            body[index] = UInt8(ascii: "4")
            try db.execute(sql: "UPDATE ledger_records SET body = ? WHERE sequence = 7", arguments: [Data(body)])
        }
        let ledger = try PrivacyLedger.openForAudit(path: path)
        let verification = try ledger.verify()
        #expect(!verification.isIntact)
        #expect(verification.records == 20)
        #expect(verification.problems == ["record 7: its hash does not match its contents (the record or its certificate was altered)"])
        // The altered entry still decodes: only the chain shows the change.
        #expect(try ledger.entries()[6].noiseShares == 4)
    }

    /// A hostile file with a huge column: the auditor neither loads it nor trusts the record.
    @Test func anOversizedColumnIsReportedNotLoaded() throws {
        let path = try coordinatorLedger(entries: 5)
        try tamper(path) { db in
            try db.execute(
                sql: "UPDATE ledger_records SET body = zeroblob(?) WHERE sequence = 3", arguments: [StoredLedgerRow.maxBodyBytes + 1])
        }
        let ledger = try PrivacyLedger.openForAudit(path: path)
        let verification = try ledger.verify()
        #expect(!verification.isIntact)
        #expect(verification.problems.contains("record 3: a column is over its size limit and was not read"))
        #expect(throws: TallyError.self) { try ledger.entries() }
    }

    @Test func aDeletedRecordIsDetected() throws {
        let path = try coordinatorLedger(entries: 20)
        try tamper(path) { db in try db.execute(sql: "DELETE FROM ledger_records WHERE sequence = 5") }
        let verification = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(!verification.isIntact)
        #expect(verification.records == 19)
        #expect(verification.problems.contains { $0.hasPrefix("record 6 found where record 5 was expected") })
        #expect(verification.problems.contains { $0.hasPrefix("record 6 does not link") })
    }

    @Test func reorderedRecordsAreDetected() throws {
        let path = try coordinatorLedger(entries: 20)
        try tamper(path) { db in
            try db.execute(
                sql: """
                    UPDATE ledger_records SET sequence = -1 WHERE sequence = 3;
                    UPDATE ledger_records SET sequence = 3 WHERE sequence = 4;
                    UPDATE ledger_records SET sequence = 4 WHERE sequence = -1;
                    """)
        }
        let ledger = try PrivacyLedger.openForAudit(path: path)
        #expect(try ledger.entries().map(\.roundID).prefix(5) == [1, 2, 4, 3, 5])
        let verification = try ledger.verify()
        #expect(!verification.isIntact)
        for sequence in [3, 4] {
            #expect(
                verification.problems.contains(
                    "record \(sequence): its hash does not match its contents (the record or its certificate was altered)"))
        }
        for sequence in [3, 4, 5] {
            #expect(verification.problems.contains { $0.hasPrefix("record \(sequence) does not link") })
        }
    }

    @Test func aRecordReSignedWithAnotherKeyIsDetected() throws {
        let path = try coordinatorLedger(entries: 20)
        let forger = try SigningPrivateKey()
        // The last record rewritten with consistent hashes, signed by another key, still claiming
        // the coordinator's certificate: only the signature can tell.
        let last = try PrivacyLedger.openForAudit(path: path).records().last!
        var forged = try last.entry()
        forged.participants = [1, 2]
        forged.noiseShares = 2
        let body = try forged.canonicalBytes()
        let hash = LedgerRecord.chainHash(
            format: .v2, sequence: last.sequence, previousHash: last.previousHash, certificatePEM: last.signerCertificatePEM, body: body)
        let signature = try forger.signature(for: hash)
        try tamper(path) { db in
            try db.execute(
                sql: "UPDATE ledger_records SET body = ?, hash = ?, signature = ? WHERE sequence = 20",
                arguments: [Data(body), Data(hash), Data(signature)])
        }
        // And record 10 re-signed over its unchanged hash.
        let tenth = try PrivacyLedger.openForAudit(path: path).records()[9]
        let resigned = try forger.signature(for: tenth.hash)
        try tamper(path) { db in
            try db.execute(sql: "UPDATE ledger_records SET signature = ? WHERE sequence = 10", arguments: [Data(resigned)])
        }
        let verification = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(verification.problems.count == 2)
        #expect(verification.problems.contains { $0.hasPrefix("record 10: its signature does not verify") })
        #expect(verification.problems.contains { $0.hasPrefix("record 20: its signature does not verify") })
    }

    @Test func aRecordSignedForAnotherRoleIsDetected() throws {
        // A participant's ledger with a record appended (correctly chained and signed) by the coordinator.
        let path = try temporaryLedgerPath()
        let participant = try TestPKI.shared.participant(1), coordinator = try TestPKI.shared.coordinator
        do {
            let ledger = try PrivacyLedger(
                path: path, role: .participant(1), signingKey: participant.key, certificatePEM: participant.certificatePEM)
            for round in 1...3 { try ledger.append(entry(round: UInt64(round), participants: [1])) }
        }
        let last = try PrivacyLedger.openForAudit(path: path).records().last!
        let body = try entry(round: 4, participants: [1]).canonicalBytes()
        let hash = LedgerRecord.chainHash(
            format: .v2, sequence: 4, previousHash: last.hash, certificatePEM: coordinator.certificatePEM, body: body)
        let signature = try coordinator.key.signature(for: hash)
        try tamper(path) { db in
            try db.execute(
                sql: "INSERT INTO ledger_records VALUES (4, ?, ?, ?, ?, ?, 2)",
                arguments: [Data(last.hash), Data(body), Data(hash), Data(signature), coordinator.certificatePEM])
        }
        let verification = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(verification.problems == ["record 4 is signed by a certificate of the coordinator, but this is participant 1's ledger"])
        #expect(verification.signerCertificates == [participant.certificatePEM, coordinator.certificatePEM])
    }

    /// Truncation of the tail is not detectable by a hash chain alone: a ledger cut after record k
    /// is a valid ledger of k records. Verification reports the count and the head hash, which is
    /// what a participant's own ledger or a published head hash is compared with.
    @Test func truncatingTheTailLeavesAValidShorterChain() throws {
        let path = try coordinatorLedger(entries: 20)
        let records = try PrivacyLedger.openForAudit(path: path).records()
        try tamper(path) { db in try db.execute(sql: "DELETE FROM ledger_records WHERE sequence = 20") }
        let verification = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(verification.isIntact)
        #expect(verification.records == 19)
        #expect(verification.headHash == records[18].hash)
        #expect(verification.headHash != records[19].hash)
    }

    @Test func openForAuditRefusesWhatIsNotALedger() throws {
        let directory = try temporaryDirectory("not-ledgers")
        let missing = directory + "/missing.sqlite"
        #expect { try PrivacyLedger.openForAudit(path: missing) } throws: { ($0 as? TallyError)?.code == .ledgerStorageFailure }
        #expect(!FileManager.default.fileExists(atPath: missing))

        let text = directory + "/notes.txt"
        try "this is not a ledger\n".write(toFile: text, atomically: true, encoding: .utf8)
        #expect { try PrivacyLedger.openForAudit(path: text) } throws: { ($0 as? TallyError)?.code == .ledgerMalformed }
        #expect(try String(contentsOfFile: text, encoding: .utf8) == "this is not a ledger\n")

        let other = directory + "/other.sqlite"
        let queue = try DatabaseQueue(path: other)
        try queue.write { try $0.execute(sql: "CREATE TABLE rounds (id INTEGER PRIMARY KEY)") }
        try queue.close()
        #expect { try PrivacyLedger.openForAudit(path: other) } throws: { ($0 as? TallyError)?.code == .ledgerMalformed }
        // Nor does a writable open turn another database into a ledger.
        let identity = try TestPKI.shared.coordinator
        #expect {
            try PrivacyLedger(path: other, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
        } throws: { ($0 as? TallyError)?.code == .ledgerMalformed }
        #expect { try PrivacyLedger.openForAudit(path: directory) } throws: { ($0 as? TallyError)?.code == .ledgerStorageFailure }
    }

    @Test func aCertificateWithoutARoleIsNotedNotTrusted() throws {
        let path = try temporaryLedgerPath()
        let plain = try TestPKI.shared.plain
        let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: plain.key, certificatePEM: plain.certificatePEM)
        try ledger.append(entry(round: 1))
        let verification = try ledger.verify()
        #expect(verification.isIntact)
        #expect(verification.notes.count == 1)
    }
}
