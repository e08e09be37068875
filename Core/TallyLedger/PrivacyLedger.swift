import Foundation
import GRDB
public import TallyCore

/// The tamper-evident privacy ledger: one signed, hash-chained record per released round, in an
/// SQLite file (WAL, `synchronous = FULL`: an appended record is on disk when ``append(_:)``
/// returns).
///
/// File format (`tally-ledger/v2`):
/// * `ledger_meta(key, value)`: `format` = `tally-ledger/v2`, `role` = `coordinator` or
///   `participant:ID`, `created_at`, and optionally `budget_epsilon`, `budget_delta`.
/// * `ledger_records(sequence, previous_hash, body, hash, signature, signer_certificate,
///   record_format)`, see ``LedgerRecord``. Only ``append(_:)`` writes to it; anyone with the file
///   can change it, which is what ``verify()`` is for.
///
/// `tally-ledger/v1` files (no `record_format` column: every record is v1, whose hash does not
/// cover the signer certificate) are still read and verified. Opening one for writing upgrades it
/// in place: the column is added (existing records read as v1, their bytes untouched), the meta
/// format becomes v2, and every record appended from then on is v2.
///
/// The meta table is not chained: `role` is also checked against each record's certificate, and the
/// budget is configuration (the latest configured one is kept), not history.
public final class PrivacyLedger: Sendable {
    /// The ledger file.
    public let path: String
    public let role: LedgerRole
    /// The participant's configured budget, if one is stored.
    public let budget: PrivacyBudget?

    private let database: any DatabaseReader
    private let writer: (any DatabaseWriter)?
    private let signingKey: SigningPrivateKey?
    private let certificatePEM: String?
    /// The format ``append(_:)`` writes (v1 only for tests that need an old ledger).
    private let recordFormat: LedgerRecord.Format

    static let format = "tally-ledger/v2"
    /// Files written before records carried a format: every record is v1.
    static let legacyFormat = "tally-ledger/v1"

    /// Opens (creating if absent) a writable ledger at `path`. Role and optional budget are stored
    /// in the meta table on creation; opening an existing ledger with a different role is an error.
    /// A budget passed when reopening replaces the stored one; nil keeps it.
    ///
    /// `certificatePEM` must be the certificate of `signingKey`, and if it names a Tally role
    /// (`tally://…` URI SAN) that role must be `role`.
    public convenience init(
        path: String, role: LedgerRole, signingKey: SigningPrivateKey, certificatePEM: String,
        budget: PrivacyBudget? = nil
    ) throws(TallyError) {
        try self.init(
            path: path, role: role, signingKey: signingKey, certificatePEM: certificatePEM, budget: budget,
            recordFormat: LedgerRecord.currentFormat)
    }

    /// `recordFormat` .v1 writes (or keeps) a `tally-ledger/v1` file of v1 records, as versions
    /// before the certificate was hashed did: only for tests of old ledgers.
    init(
        path: String, role: LedgerRole, signingKey: SigningPrivateKey, certificatePEM: String,
        budget: PrivacyBudget?, recordFormat: LedgerRecord.Format
    ) throws(TallyError) {
        let certificate = try LedgerCertificate(pem: certificatePEM)
        guard certificate.subjectPublicKeyInfo == signingKey.publicKey.derRepresentation else {
            throw TallyError(.invalidArgument, "the ledger's certificate \(certificate.displayName) is not the signing key's certificate")
        }
        if let named = certificate.tallyRole, named != role {
            throw TallyError(.invalidArgument, "a certificate of \(named.noun) cannot sign \(role.noun)'s ledger")
        }
        if case .participant(0) = role { throw TallyError(.invalidArgument, "participant ids start at 1") }
        if let budget { try Self.check(budget) }

        let pool: DatabasePool
        let stored: PrivacyBudget?
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            stored = try pool.writeWithoutTransaction { db in
                var result: PrivacyBudget?
                try db.inTransaction(.immediate) {
                    result = try Self.prepare(db, path: path, role: role, budget: budget, recordFormat: recordFormat)
                    return .commit
                }
                return result
            }
        } catch let error as TallyError {
            throw error
        } catch {
            throw Self.storageError("cannot open the privacy ledger at \(path)", error)
        }
        self.path = path
        self.role = role
        self.budget = stored
        database = pool
        writer = pool
        self.signingKey = signingKey
        self.certificatePEM = certificatePEM
        self.recordFormat = recordFormat
    }

    private init(path: String, role: LedgerRole, budget: PrivacyBudget?, database: any DatabaseReader) {
        self.path = path
        self.role = role
        self.budget = budget
        self.database = database
        writer = nil
        signingKey = nil
        certificatePEM = nil
        recordFormat = LedgerRecord.currentFormat
    }

    /// Read-only open for auditing: never creates or modifies the file. Throws
    /// `ledger-storage-failure` if the file is missing, unreadable or not a regular file (a FIFO,
    /// device or directory — SQLite would block on a FIFO — and the same for its `-wal`, `-shm` and
    /// `-journal` companions if present), and `ledger-malformed` if it is not a privacy ledger. Works while the owner appends (each read is a consistent snapshot,
    /// including records still in the write-ahead log). As for any reader of a WAL database, SQLite
    /// may create the `-wal` and `-shm` companion files (its shared-memory index) next to it.
    public static func openForAudit(path: String) throws(TallyError) -> PrivacyLedger {
        try checkRegularFiles(path)
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let meta = try queue.read { db in
                guard try db.tableExists("ledger_meta"), try db.tableExists("ledger_records") else { return [String: DatabaseValue]?.none }
                var meta: [String: DatabaseValue] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT key, value FROM ledger_meta") {
                    if let key = String.fromDatabaseValue(row[0]) { meta[key] = row[1] }
                }
                return meta
            }
            guard let meta else {
                throw TallyError(.ledgerMalformed, "\(path) is an SQLite database but not a privacy ledger (it has no ledger tables)")
            }
            let (role, budget) = try Self.read(meta: meta, path: path)
            return PrivacyLedger(path: path, role: role, budget: budget, database: queue)
        } catch let error as TallyError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw TallyError(.ledgerMalformed, "\(path) is not a privacy ledger (not an SQLite database)")
        } catch {
            throw Self.storageError("cannot read the privacy ledger at \(path)", error)
        }
    }

    /// The companion files SQLite may open beside a database.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Refuses `path` unless it is a regular file, and any companion that exists unless it is one.
    static func checkRegularFiles(_ path: String) throws(TallyError) {
        switch FileKind.of(path) {
        case .missing: throw TallyError(.ledgerStorageFailure, "no privacy ledger at \(path): the file does not exist")
        case .directory: throw TallyError(.ledgerStorageFailure, "\(path) is a directory, not a privacy ledger")
        case .other:
            throw TallyError(.ledgerStorageFailure, "\(path) is not a regular file (a FIFO, socket or device), not a privacy ledger")
        case .regular: break
        }
        for suffix in companionSuffixes {
            switch FileKind.of(path + suffix) {
            case .missing, .regular: continue
            case .directory, .other:
                throw TallyError(
                    .ledgerStorageFailure, "\(path + suffix), beside the ledger \(path), is not a regular file; refusing to open the ledger"
                )
            }
        }
    }

    /// Appends in one transaction, fsynced (`synchronous = FULL`), chained to the last record, signed.
    /// Refuses entries that fail ``LedgerEntry/validate()``.
    @discardableResult
    public func append(_ entry: LedgerEntry) throws(TallyError) -> LedgerRecord {
        guard let writer, let signingKey, let certificatePEM else {
            throw TallyError(.invalidArgument, "the ledger at \(path) was opened for audit and is read-only")
        }
        try entry.validate()
        let body = try entry.canonicalBytes()
        do {
            return try writer.writeWithoutTransaction { db in
                var record: LedgerRecord?
                try db.inTransaction(.immediate) {
                    var sequence: Int64 = 1
                    var previous = LedgerRecord.genesisHash
                    if let last = try Row.fetchOne(db, sql: "SELECT sequence, hash FROM ledger_records ORDER BY sequence DESC LIMIT 1") {
                        guard let lastSequence = Int64.fromDatabaseValue(last[0]),
                            let lastHash = Data.fromDatabaseValue(last[1]), lastHash.count == SHA256Digest.byteCount
                        else {
                            throw TallyError(
                                .ledgerMalformed, "the last record of the ledger at \(path) is unreadable; run `tally-audit verify`")
                        }
                        sequence = lastSequence + 1
                        previous = [UInt8](lastHash)
                    }
                    let format = recordFormat
                    let hash = LedgerRecord.chainHash(
                        format: format, sequence: sequence, previousHash: previous, certificatePEM: certificatePEM, body: body)
                    let signature = try signingKey.signature(for: hash)
                    if try Self.hasFormatColumn(db) {
                        try db.execute(
                            sql: """
                                INSERT INTO ledger_records
                                    (sequence, previous_hash, body, hash, signature, signer_certificate, \(StoredLedgerRow.formatColumn))
                                VALUES (?, ?, ?, ?, ?, ?, ?)
                                """,
                            arguments: [sequence, Data(previous), Data(body), Data(hash), Data(signature), certificatePEM, format.rawValue])
                    } else {
                        try db.execute(
                            sql: """
                                INSERT INTO ledger_records (sequence, previous_hash, body, hash, signature, signer_certificate)
                                VALUES (?, ?, ?, ?, ?, ?)
                                """, arguments: [sequence, Data(previous), Data(body), Data(hash), Data(signature), certificatePEM])
                    }
                    record = LedgerRecord(
                        format: format, sequence: sequence, previousHash: previous, body: body, hash: hash,
                        signature: signature, signerCertificatePEM: certificatePEM)
                    return .commit
                }
                guard let record else { throw TallyError(.ledgerStorageFailure, "append did not complete") }
                return record
            }
        } catch let error as TallyError {
            throw error
        } catch {
            throw Self.storageError("cannot append round \(entry.roundID) to the privacy ledger at \(path)", error)
        }
    }

    /// All records in sequence order. Throws `ledger-malformed` if a row has a missing column.
    public func records() throws(TallyError) -> [LedgerRecord] {
        try storedRows().map { (row) throws(TallyError) -> LedgerRecord in
            guard let record = row.record else {
                throw TallyError(
                    .ledgerMalformed,
                    "record \(row.sequence.map(String.init) ?? "?") of the ledger at \(path) has a missing, mistyped or oversized column")
            }
            return record
        }
    }

    /// All entries in sequence order.
    public func entries() throws(TallyError) -> [LedgerEntry] {
        try records().map { (record) throws(TallyError) -> LedgerEntry in try record.entry() }
    }

    /// Checks the chain (sequence contiguous from 1, previousHash links, recomputed hashes — which,
    /// for v2 records, cover the stored signer certificate byte for byte), every signature against
    /// the public key of the record's own certificate, that each body is an entry, and that every
    /// certificate that names a Tally role names the ledger's role.
    ///
    /// What it cannot detect: removal of records from the end (see ``LedgerVerification``), and a
    /// writer that rewrites the whole chain with its own key — signatures show who wrote the
    /// records, not that the writer was honest. Certificates are checked against a CA only by
    /// `tally-audit verify --ca`. In v1 records (written before the certificate was hashed) a
    /// changed certificate is detected only if its key no longer verifies the signature or, with
    /// a CA, it no longer chains to the CA: ``LedgerVerification/legacyRecords`` counts them and
    /// a note says so.
    public func verify() throws(TallyError) -> LedgerVerification {
        let rows = try storedRows()
        var problems: [String] = [], notes: [String] = []
        var certificates: [String] = []
        var parsed: [String: Result<(LedgerCertificate, SigningPublicKey), TallyError>] = [:]
        var expected: Int64 = 1
        var previous: [UInt8]? = LedgerRecord.genesisHash
        var legacy: [String] = []
        var firstCurrent: String?
        for (index, row) in rows.enumerated() {
            let name = row.sequence.map { "record \($0)" } ?? "row \(index + 1)"
            guard let record = row.record else {
                if row.format == nil {
                    problems.append(
                        "\(name): its record format \(row.formatNumber.map(String.init) ?? "(not an integer)") is not one this version knows"
                    )
                } else {
                    problems.append(
                        row.oversized
                            ? "\(name): a column is over its size limit and was not read"
                            : "\(name): a column is missing or has the wrong type")
                }
                previous = row.hash
                if let sequence = row.sequence { expected = sequence &+ 1 }
                continue
            }
            if record.sequence != expected {
                problems.append("\(name) found where record \(expected) was expected: records were deleted, inserted or reordered")
            }
            expected = record.sequence &+ 1
            if record.previousHash != previous {
                problems.append("\(name) does not link to the record before it (its previous hash differs)")
            }
            if record.expectedHash != record.hash {
                problems.append("\(name): its hash does not match its contents (the record or its certificate was altered)")
            }
            previous = record.hash
            switch record.format {
            case .v1:
                legacy.append(name)
                if let firstCurrent {
                    problems.append(
                        "\(name) is in record format v1 after \(firstCurrent) in v2: a writer never goes back to the old format")
                }
            case .v2:
                if firstCurrent == nil { firstCurrent = name }
            }

            let pem = record.signerCertificatePEM
            if parsed[pem] == nil {
                certificates.append(pem)
                do {
                    let certificate = try LedgerCertificate(pem: pem)
                    parsed[pem] = .success((certificate, try certificate.publicKey()))
                    if certificate.tallyRole == nil {
                        notes.append(
                            "signer certificate \(certificate.displayName) names no Tally role, so its role could not be checked against \(role.noun)'s ledger"
                        )
                    }
                } catch {
                    parsed[pem] = .failure(error)
                }
            }
            switch parsed[pem]! {
            case .failure(let error):
                problems.append("\(name): its signer certificate cannot be read (\(error.message))")
            case .success(let (certificate, key)):
                do {
                    try key.verify(record.signature, for: record.hash)
                } catch {
                    problems.append("\(name): its signature does not verify under its certificate \(certificate.displayName)")
                }
                if let named = certificate.tallyRole, named != role {
                    problems.append("\(name) is signed by a certificate of \(named.noun), but this is \(role.noun)'s ledger")
                }
            }
            do {
                _ = try record.entry()
            } catch {
                problems.append("\(name): its body is not a ledger entry")
            }
        }
        if let first = legacy.first, let last = legacy.last {
            notes.append(
                "\(legacy.count) of \(rows.count) records (\(first == last ? first : "\(first) to \(last)")) are in the old record format v1, whose hash does not cover the signer certificate: a change to their stored certificate is detected only if it no longer verifies the signature or, with --ca, no longer chains to the CA"
            )
        }
        return LedgerVerification(
            records: rows.count, problems: problems, signerCertificates: certificates,
            headHash: rows.last?.hash, notes: notes, legacyRecords: legacy.count)
    }

    // MARK: - Storage

    private func storedRows() throws(TallyError) -> [StoredLedgerRow] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: StoredLedgerRow.selectAll(hasFormatColumn: try Self.hasFormatColumn(db))).map(
                    StoredLedgerRow.init)
            }
        } catch {
            throw Self.storageError("cannot read the privacy ledger at \(path)", error)
        }
    }

    static func hasFormatColumn(_ db: Database) throws -> Bool {
        try db.columns(in: "ledger_records").contains { $0.name == StoredLedgerRow.formatColumn }
    }

    /// Creates the tables of a new ledger, or checks an existing one and upgrades a v1 file to v2
    /// (unless `recordFormat` is v1); returns the budget in force.
    private static func prepare(
        _ db: Database, path: String, role: LedgerRole, budget: PrivacyBudget?, recordFormat: LedgerRecord.Format
    ) throws -> PrivacyBudget? {
        if try !db.tableExists("ledger_meta") {
            let tables =
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") ?? 0
            guard tables == 0 else {
                throw TallyError(
                    .ledgerMalformed, "\(path) is an SQLite database but not a privacy ledger; refusing to add ledger tables to it")
            }
            let legacy = recordFormat == .v1
            try db.execute(
                sql: """
                    CREATE TABLE ledger_meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL);
                    CREATE TABLE ledger_records (
                        sequence INTEGER PRIMARY KEY NOT NULL,
                        previous_hash BLOB NOT NULL, body BLOB NOT NULL, hash BLOB NOT NULL,
                        signature BLOB NOT NULL, signer_certificate TEXT NOT NULL\(legacy ? "" : ",\n    " + formatColumnDefinition));
                    """)
            try db.execute(
                sql: "INSERT INTO ledger_meta (key, value) VALUES ('format', ?), ('role', ?), ('created_at', ?)",
                arguments: [legacy ? legacyFormat : format, role.storageValue, Date().timeIntervalSince1970])
        } else {
            var meta: [String: DatabaseValue] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM ledger_meta") {
                if let key = String.fromDatabaseValue(row[0]) { meta[key] = row[1] }
            }
            let (stored, _) = try read(meta: meta, path: path)
            guard stored == role else {
                throw TallyError(.invalidArgument, "the ledger at \(path) is \(stored.noun)'s, not \(role.noun)'s")
            }
            if recordFormat >= .v2, try !hasFormatColumn(db) {
                // The upgrade: old records keep their bytes and read as v1; new ones are v2.
                try db.execute(sql: "ALTER TABLE ledger_records ADD COLUMN \(formatColumnDefinition)")
                try db.execute(sql: "UPDATE ledger_meta SET value = ? WHERE key = 'format'", arguments: [format])
            }
        }
        if let budget {
            try db.execute(
                sql: "INSERT OR REPLACE INTO ledger_meta (key, value) VALUES ('budget_epsilon', ?), ('budget_delta', ?)",
                arguments: [budget.epsilon, budget.delta])
            return budget
        }
        let epsilon = try Double.fetchOne(db, sql: "SELECT value FROM ledger_meta WHERE key = 'budget_epsilon'")
        let delta = try Double.fetchOne(db, sql: "SELECT value FROM ledger_meta WHERE key = 'budget_delta'")
        guard let epsilon, let delta else { return nil }
        return PrivacyBudget(epsilon: epsilon, delta: delta)
    }

    /// The records' format column: rows of a v1 file that was upgraded read as 1.
    private static let formatColumnDefinition = "\(StoredLedgerRow.formatColumn) INTEGER NOT NULL DEFAULT 1"

    private static func read(meta: [String: DatabaseValue], path: String) throws(TallyError) -> (LedgerRole, PrivacyBudget?) {
        guard let format = meta["format"].flatMap(String.fromDatabaseValue), format == Self.format || format == Self.legacyFormat
        else {
            throw TallyError(
                .ledgerMalformed,
                "\(path) is not a \(Self.format) (or \(Self.legacyFormat)) privacy ledger (format \(meta["format"].map { "\($0)" } ?? "missing"))"
            )
        }
        guard let value = meta["role"].flatMap(String.fromDatabaseValue), let role = LedgerRole(storageValue: value) else {
            throw TallyError(.ledgerMalformed, "the privacy ledger at \(path) names no valid role")
        }
        let epsilon = meta["budget_epsilon"].flatMap(Double.fromDatabaseValue)
        let delta = meta["budget_delta"].flatMap(Double.fromDatabaseValue)
        guard let epsilon, let delta else { return (role, nil) }
        let budget = PrivacyBudget(epsilon: epsilon, delta: delta)
        try check(budget)
        return (role, budget)
    }

    private static func check(_ budget: PrivacyBudget) throws(TallyError) {
        guard budget.epsilon.isFinite, budget.epsilon > 0 else {
            throw TallyError(.invalidArgument, "a privacy budget's ε must be positive and finite, got \(budget.epsilon)")
        }
        guard budget.delta.isFinite, budget.delta > 0, budget.delta < 1 else {
            throw TallyError(.invalidArgument, "a privacy budget's δ must be in (0, 1), got \(budget.delta)")
        }
    }

    private static func storageError(_ what: String, _ error: any Error) -> TallyError {
        if let error = error as? DatabaseError {
            return TallyError(.ledgerStorageFailure, "\(what): \(error.message ?? "\(error.resultCode)")")
        }
        return TallyError(.ledgerStorageFailure, what, cause: error)
    }
}
