import Foundation
import GRDB
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyLedger

/// The signer certificate is part of each record's hash (format v2). The attack: someone with the
/// file edits the certificate stored with a record (its name, validity, role or CA signature) while
/// keeping its public key, so every signature still verifies. The positive control is the same
/// attack on a ledger in the old format v1, which hashed only the body.
@Suite struct LedgerCertificateBindingTests {
    /// Flips one bit of byte `index` of record `sequence`'s stored certificate, keeping it TEXT.
    static func flip(_ db: Database, sequence: Int, original: [UInt8], index: Int) throws {
        var bytes = original
        bytes[index] ^= 0x01
        try db.execute(
            sql: "UPDATE ledger_records SET signer_certificate = CAST(? AS TEXT) WHERE sequence = ?", arguments: [Data(bytes), sequence])
    }

    /// Flips every byte of record 1's certificate in turn, verifying after each; returns the
    /// indices of the flips that verification did not notice.
    static func unnoticedFlips(_ path: String, certificate pem: String) throws -> [Int] {
        let original = Array(pem.utf8)
        let writer = try DatabaseQueue(path: path)
        defer { try? writer.close() }
        let audit = try PrivacyLedger.openForAudit(path: path)
        var unnoticed: [Int] = []
        for index in original.indices {
            try writer.write { db in try flip(db, sequence: 1, original: original, index: index) }
            if try audit.verify().isIntact { unnoticed.append(index) }
        }
        try writer.write { db in
            try db.execute(sql: "UPDATE ledger_records SET signer_certificate = ? WHERE sequence = 1", arguments: [pem])
        }
        #expect(try audit.verify().isIntact, "restoring the certificate restores the ledger")
        return unnoticed
    }

    static func ledger(format: LedgerRecord.Format, entries count: Int = 2) throws -> (path: String, identity: TestPKI.Identity) {
        let path = try temporaryLedgerPath()
        let identity = try TestPKI.shared.coordinator
        let ledger = try PrivacyLedger(
            path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM, budget: nil,
            recordFormat: format)
        for round in 1...count { try ledger.append(entry(round: UInt64(round))) }
        return (path, identity)
    }

    @Test func everyFlippedCertificateByteFailsVerification() throws {
        let (path, identity) = try Self.ledger(format: .v2)
        let intact = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(intact.isIntact && intact.legacyRecords == 0 && intact.notes.isEmpty)
        let unnoticed = try Self.unnoticedFlips(path, certificate: identity.certificatePEM)
        #expect(unnoticed.isEmpty, "flips of bytes \(unnoticed) of the certificate passed verification")
    }

    /// Positive control: in the old format the same flips go unnoticed when they leave the public
    /// key intact (e.g. in the CA's signature), and verification says that v1 has this weakness.
    @Test func theOldFormatMissesCertificateFlipsAndSaysSo() throws {
        let (path, identity) = try Self.ledger(format: .v1)
        let intact = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(intact.isIntact && intact.legacyRecords == 2)
        #expect(intact.notes.contains { $0.contains("old record format v1") && $0.contains("--ca") })
        let unnoticed = try Self.unnoticedFlips(path, certificate: identity.certificatePEM)
        let total = identity.certificatePEM.utf8.count
        #expect(unnoticed.count > total / 10, "only \(unnoticed.count) of \(total) flips went unnoticed in v1")
        // One of them, shown concretely: the stored certificate differs from the signer's, yet v1 passes.
        let index = try #require(unnoticed.first)
        try tamper(path) { db in try Self.flip(db, sequence: 1, original: Array(identity.certificatePEM.utf8), index: index) }
        let audit = try PrivacyLedger.openForAudit(path: path)
        #expect(try audit.records()[0].signerCertificatePEM != identity.certificatePEM)
        #expect(try audit.verify().isIntact)
    }

    /// Opening an old ledger to append upgrades it: the old records keep their bytes and verify as
    /// v1, new ones are v2 and bind their certificate.
    @Test func appendingToAnOldLedgerUpgradesIt() throws {
        let (path, identity) = try Self.ledger(format: .v1, entries: 3)
        let v1Bytes = try PrivacyLedger.openForAudit(path: path).records()
        do {
            let ledger = try PrivacyLedger(
                path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
            for round in 4...5 { try ledger.append(entry(round: UInt64(round))) }
        }
        let audit = try PrivacyLedger.openForAudit(path: path)
        let records = try audit.records()
        #expect(records.map(\.format) == [.v1, .v1, .v1, .v2, .v2])
        #expect(Array(records.prefix(3)) == v1Bytes)
        let verification = try audit.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.legacyRecords == 3)
        #expect(verification.notes.contains { $0.hasPrefix("3 of 5 records (record 1 to record 3) are in the old record format v1") })
        let format = try DatabaseQueue(path: path).read { db in
            try String.fetchOne(db, sql: "SELECT value FROM ledger_meta WHERE key = 'format'")
        }
        #expect(format == "tally-ledger/v2")
        // A certificate flip in an upgraded record is caught.
        let original = Array(identity.certificatePEM.utf8)
        try tamper(path) { db in try Self.flip(db, sequence: 4, original: original, index: original.count / 2) }
        #expect(
            try audit.verify().problems.contains(
                "record 4: its hash does not match its contents (the record or its certificate was altered)"))
    }

    /// Relabelling a v2 record as v1 (to escape the certificate check) breaks its hash: the
    /// format is bound by the domain label. A v1 record after a v2 one is flagged too, and so is
    /// a format this version does not know.
    @Test func downgradingARecordsFormatIsDetected() throws {
        let (path, _) = try Self.ledger(format: .v2, entries: 3)
        try tamper(path) { db in try db.execute(sql: "UPDATE ledger_records SET record_format = 1 WHERE sequence = 2") }
        let problems = try PrivacyLedger.openForAudit(path: path).verify().problems
        #expect(problems.contains("record 2: its hash does not match its contents (the record or its certificate was altered)"))
        #expect(problems.contains("record 2 is in record format v1 after record 1 in v2: a writer never goes back to the old format"))
        try tamper(path) { db in try db.execute(sql: "UPDATE ledger_records SET record_format = 3 WHERE sequence = 2") }
        #expect(
            try PrivacyLedger.openForAudit(path: path).verify().problems.contains(
                "record 2: its record format 3 is not one this version knows"))
        // Dropping the column (every record then reads as v1) breaks every hash.
        try tamper(path) { db in try db.execute(sql: "ALTER TABLE ledger_records DROP COLUMN record_format") }
        let dropped = try PrivacyLedger.openForAudit(path: path).verify()
        #expect(
            dropped.problems.filter { $0.hasSuffix("its hash does not match its contents (the record or its certificate was altered)") }
                .count == 3)
    }
}
