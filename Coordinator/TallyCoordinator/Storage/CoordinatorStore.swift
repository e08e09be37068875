import Foundation
import GRDB
import TallyCore
import TallyModel
import TallyRound

/// The coordinator's durable state in SQLite (WAL, synchronous=FULL): participants, rounds and
/// their stage, and the registry index. Everything that must survive SIGKILL is committed here
/// before the action it records is considered done.
public struct CoordinatorStore: Sendable {
    public let pool: DatabasePool

    public enum RoundOutcome: String, Sendable { case running, released, aborted }

    public struct RoundRecord: Sendable, Hashable {
        public let id: Int64
        /// The last stage the round reached.
        public let stage: RoundStage
        public let outcome: RoundOutcome
        public let reason: String?
        public let cohort: Int
        public let contributors: Int
        public let dropped: Int
        public let version: Int64?
        public let seconds: Double?
        public let startedAt: Double
    }

    public struct VersionRecord: Sendable, Hashable {
        public let version: Int64
        public let modelHash: String
        public let parent: Int64?
        public let roundID: Int64?
        public let createdAt: Double
        public let manifest: [UInt8]
        public let signature: [UInt8]
        public let accuracy: Double?
        /// Where the version stands in the publish gate (``VersionStatus``).
        public var status: VersionStatus = .published
        /// Its federated evaluation (JSON of ``FederatedEvaluation/Metrics``), once a round has
        /// scored it.
        public var validation: [UInt8]? = nil
        /// The gate's smoothed score of it (``ValidationSettings/smoothing``).
        public var gateScore: Double? = nil

        /// ``validation`` decoded.
        public var validationMetrics: FederatedEvaluation.Metrics? {
            validation.flatMap { try? JSONDecoder().decode(FederatedEvaluation.Metrics.self, from: Data($0)) }
        }
    }

    /// A version's place in the publish gate. With federated evaluation on, a new version is a
    /// `candidate` until the next round has scored it: then `published` if it improved on the
    /// published version by more than the threshold, `notPublished` otherwise. Without it, every
    /// version is `published` when it is made.
    public enum VersionStatus: String, Sendable, Hashable, Codable {
        case candidate
        case published
        case notPublished = "not-published"
        /// Was published; an operator rolled the published channel back to an earlier version.
        case rolledBack = "rolled-back"
    }

    /// Opens (and migrates) the database; `readOnly` opens an existing one for inspection while
    /// the service runs (status views, the demo's progress display).
    public init(path: String, readOnly: Bool = false) throws(TallyError) {
        do {
            var configuration = Configuration()
            configuration.readonly = readOnly
            // A reader (`status`, the demo's display, a test) may hold a lock at the moment the
            // service creates the file or switches it to WAL: wait for it instead of failing.
            configuration.busyMode = .timeout(10)
            if !readOnly {
                configuration.prepareDatabase { db in
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                }
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            if readOnly {
                // Reading only: the file must already be a coordinator database.
                let tables = try pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
                guard ["rounds", "versions"].allSatisfy(tables.contains) else {
                    throw TallyError(
                        .invalidArgument, "\(path) is not a coordinator database (it has no rounds and versions tables)")
                }
                return
            }
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE participants (
                            id INTEGER PRIMARY KEY, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
                            connections INTEGER NOT NULL DEFAULT 0);
                        CREATE TABLE rounds (
                            id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL,
                            stage TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT,
                            cohort INTEGER NOT NULL, contributors INTEGER NOT NULL DEFAULT 0,
                            dropped INTEGER NOT NULL DEFAULT 0, version INTEGER);
                        CREATE TABLE versions (
                            version INTEGER PRIMARY KEY, model_hash TEXT NOT NULL, parent INTEGER,
                            round_id INTEGER, created_at REAL NOT NULL, manifest BLOB NOT NULL,
                            signature BLOB NOT NULL, accuracy REAL);
                        """)
            }
            migrator.registerMigration("v2-server-optimizer") { db in
                // The server optimizer's moments after each version, committed with the version so
                // that a restarted coordinator continues the same optimizer run.
                try db.execute(
                    sql: """
                        CREATE TABLE optimizer_states (
                            version INTEGER PRIMARY KEY, settings BLOB NOT NULL, state BLOB NOT NULL);
                        """)
            }
            migrator.registerMigration("v3-publish-gate") { db in
                // Versions made before the gate were all published.
                try db.execute(
                    sql: """
                        ALTER TABLE versions ADD COLUMN status TEXT NOT NULL DEFAULT 'published';
                        ALTER TABLE versions ADD COLUMN validation BLOB;
                        ALTER TABLE versions ADD COLUMN gate_score REAL;
                        """)
            }
            migrator.registerMigration("v4-channel-moves") { db in
                // Every move of the published channel an operator made, as the coordinator signed it.
                try db.execute(
                    sql: """
                        CREATE TABLE channel_moves (
                            seq INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, at REAL NOT NULL,
                            statement BLOB NOT NULL, signature BLOB NOT NULL);
                        """)
            }
            migrator.registerMigration("v5-bans") { db in
                // Participants an operator banned: refused at every connection until unbanned.
                try db.execute(
                    sql: """
                        CREATE TABLE bans (
                            participant INTEGER PRIMARY KEY, operator TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
                        """)
            }
            try migrator.migrate(pool)
        } catch let error as TallyError {
            throw error
        } catch {
            throw TallyError(.storageFailure, "cannot open the coordinator database at \(path)", cause: error)
        }
    }

    private func write<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(TallyError) -> T {
        do { return try pool.write(body) } catch {
            throw TallyError(.storageFailure, "database write (\(what)) failed", cause: error)
        }
    }

    private func read<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(TallyError) -> T {
        do { return try pool.read(body) } catch {
            throw TallyError(.storageFailure, "database read (\(what)) failed", cause: error)
        }
    }

    /// At start-up: any round that was running when the process died is aborted. Nothing of it
    /// was released (release happens in the same transaction that ends a round).
    @discardableResult
    public func abortInFlightRounds(reason: String = "coordinator restarted during the round") throws(TallyError) -> [Int64] {
        try write("abort in-flight rounds") { db in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM rounds WHERE outcome = 'running'")
            try db.execute(
                sql: "UPDATE rounds SET outcome = 'aborted', reason = ?, ended_at = ? WHERE outcome = 'running'",
                arguments: [reason, Date().timeIntervalSince1970])
            return ids
        }
    }

    public func nextRoundID() throws(TallyError) -> Int64 {
        try read("next round id") { db in (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM rounds") ?? 0) + 1 }
    }

    public func beginRound(id: Int64, cohort: Int) throws(TallyError) {
        try write("begin round") { db in
            try db.execute(
                sql: "INSERT INTO rounds (id, started_at, stage, outcome, cohort) VALUES (?, ?, ?, 'running', ?)",
                arguments: [id, Date().timeIntervalSince1970, RoundStage.keys.rawValue, cohort])
        }
    }

    public func setStage(round id: Int64, _ stage: RoundStage) throws(TallyError) {
        try write("round stage") { db in
            try db.execute(sql: "UPDATE rounds SET stage = ? WHERE id = ?", arguments: [stage.rawValue, id])
        }
    }

    public func abortRound(id: Int64, reason: String, contributors: Int = 0, dropped: Int = 0) throws(TallyError) {
        try write("abort round") { db in
            try db.execute(
                sql: "UPDATE rounds SET outcome = 'aborted', reason = ?, ended_at = ?, contributors = ?, dropped = ? WHERE id = ?",
                arguments: [reason, Date().timeIntervalSince1970, contributors, dropped, id])
        }
    }

    /// Publishes a version and ends its round as released, in one transaction: either both are
    /// durable or neither is.
    public func releaseRound(
        id: Int64, contributors: Int, dropped: Int, version: VersionRecord,
        optimizer: OptimizerState? = nil,
        judged: (version: Int64, status: VersionStatus, validation: FederatedEvaluation.Metrics?, score: Double?)? = nil
    ) throws(TallyError) {
        let validation = try judged?.validation.map { (metrics) throws(TallyError) in try Self.encode(metrics) }
        try write("release round") { db in
            try Self.insert(version, into: db)
            if let judged {
                try db.execute(
                    sql: "UPDATE versions SET status = ?, validation = ?, gate_score = ? WHERE version = ?",
                    arguments: [judged.status.rawValue, validation, judged.score, judged.version])
            }
            if let optimizer {
                try db.execute(
                    sql: "INSERT INTO optimizer_states (version, settings, state) VALUES (?, ?, ?)",
                    arguments: [version.version, Data(optimizer.settings), Data(optimizer.state)])
            }
            try db.execute(
                sql: """
                    UPDATE rounds SET outcome = 'released', stage = 'released', ended_at = ?, contributors = ?, dropped = ?, version = ?
                    WHERE id = ?
                    """, arguments: [Date().timeIntervalSince1970, contributors, dropped, version.version, id])
        }
    }

    /// Publishes a version outside any round (the initial model).
    public func insertVersion(_ version: VersionRecord) throws(TallyError) {
        try write("insert version") { db in
            try Self.insert(version, into: db)
        }
    }

    /// A server optimizer's settings and moments (both serialized by the caller) after a version.
    public struct OptimizerState: Sendable, Hashable {
        public let settings: [UInt8]
        public let state: [UInt8]
        public init(settings: [UInt8], state: [UInt8]) {
            self.settings = settings
            self.state = state
        }
    }

    /// The optimizer state saved with `version`, if any.
    public func optimizerState(version: Int64) throws(TallyError) -> OptimizerState? {
        try read("optimizer state") { db in
            try Row.fetchOne(db, sql: "SELECT settings, state FROM optimizer_states WHERE version = ?", arguments: [version]).map {
                OptimizerState(settings: [UInt8]($0["settings"] as Data), state: [UInt8]($0["state"] as Data))
            }
        }
    }

    public func versions() throws(TallyError) -> [VersionRecord] {
        try read("versions") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM versions ORDER BY version").map(Self.version)
        }
    }

    /// The published channel: the newest version the gate published (or, without federated
    /// evaluation, the newest version).
    public func publishedVersion() throws(TallyError) -> VersionRecord? {
        try read("published version") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM versions WHERE status = 'published' ORDER BY version DESC LIMIT 1").map(
                Self.version)
        }
    }

    /// Records a version's federated evaluation and the gate's decision on it.
    public func judge(version: Int64, status: VersionStatus, validation: FederatedEvaluation.Metrics?) throws(TallyError) {
        let bytes = try validation.map { (metrics) throws(TallyError) in try Self.encode(metrics) }
        try write("judge version") { db in
            try db.execute(
                sql: "UPDATE versions SET status = ?, validation = ? WHERE version = ?",
                arguments: [status.rawValue, bytes, version])
        }
    }

    private static func encode(_ metrics: FederatedEvaluation.Metrics) throws(TallyError) -> Data {
        do { return Data(try JSONEncoder().encode(metrics)) } catch {
            throw TallyError(.storageFailure, "a federated evaluation cannot be encoded", cause: error)
        }
    }

    /// Moves the published channel back to `version`, which must have been published: the newer
    /// published versions become `rolled-back`, and the signed `statement` is kept. Returns the
    /// versions rolled back.
    public func rollBack(to version: Int64, statement: [UInt8], signature: [UInt8]) throws(TallyError) -> [Int64] {
        let outcome: Result<[Int64], TallyError> = try write("roll back") { db in
            guard let status = try String.fetchOne(db, sql: "SELECT status FROM versions WHERE version = ?", arguments: [version]) else {
                return .failure(TallyError(.invalidArgument, "there is no version \(version)"))
            }
            guard status == VersionStatus.published.rawValue || status == VersionStatus.rolledBack.rawValue else {
                return .failure(
                    TallyError(
                        .invalidArgument,
                        "version \(version) was never published (it is \(status)); only a published version can be rolled back to"))
            }
            let newer = try Int64.fetchAll(
                db, sql: "SELECT version FROM versions WHERE version > ? AND status = 'published' ORDER BY version", arguments: [version])
            try db.execute(sql: "UPDATE versions SET status = 'published' WHERE version = ?", arguments: [version])
            try db.execute(
                sql: "UPDATE versions SET status = 'rolled-back' WHERE version > ? AND status = 'published'", arguments: [version])
            try db.execute(
                sql: "INSERT INTO channel_moves (version, at, statement, signature) VALUES (?, ?, ?, ?)",
                arguments: [version, Date().timeIntervalSince1970, Data(statement), Data(signature)])
            return .success(newer)
        }
        return try outcome.get()
    }

    /// The published channel's recorded moves, oldest first: (version, signed statement, signature).
    public func channelMoves() throws(TallyError) -> [(version: Int64, statement: [UInt8], signature: [UInt8])] {
        try read("channel moves") { db in
            try Row.fetchAll(db, sql: "SELECT version, statement, signature FROM channel_moves ORDER BY seq").map {
                (version: $0["version"], statement: [UInt8]($0["statement"] as Data), signature: [UInt8]($0["signature"] as Data))
            }
        }
    }

    /// A participant an operator banned, who did it, why and when.
    public struct Ban: Sendable, Codable, Hashable {
        public let participant: UInt32
        public let by: String
        public let reason: String
        public let at: Double

        /// "by operator NAME: REASON".
        public var summary: String { "by operator \(by)\(reason.isEmpty ? "" : ": \(reason)")" }
    }

    public func ban(_ participant: UInt32, by operatorName: String, reason: String) throws(TallyError) {
        try write("ban") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO bans (participant, operator, reason, at) VALUES (?, ?, ?, ?)",
                arguments: [Int64(participant), operatorName, reason, Date().timeIntervalSince1970])
        }
    }

    /// Lifts a ban; returns whether there was one.
    public func unban(_ participant: UInt32) throws(TallyError) -> Bool {
        try write("unban") { db in
            try db.execute(sql: "DELETE FROM bans WHERE participant = ?", arguments: [Int64(participant)])
            return db.changesCount > 0
        }
    }

    public func bans() throws(TallyError) -> [Ban] {
        try read("bans") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM bans ORDER BY participant").map(Self.ban)
        }
    }

    public func ban(of participant: UInt32) throws(TallyError) -> Ban? {
        try read("ban") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM bans WHERE participant = ?", arguments: [Int64(participant)]).map(Self.ban)
        }
    }

    private static func ban(_ row: Row) -> Ban {
        Ban(participant: UInt32(truncatingIfNeeded: row["participant"] as Int64), by: row["operator"], reason: row["reason"], at: row["at"])
    }

    /// Version `number`, if it exists.
    public func version(_ number: Int64) throws(TallyError) -> VersionRecord? {
        try read("version") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM versions WHERE version = ?", arguments: [number]).map(Self.version)
        }
    }

    /// The newest version, whatever its status: what the next round starts from.
    public func latestVersion() throws(TallyError) -> VersionRecord? {
        try read("latest version") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM versions ORDER BY version DESC LIMIT 1").map(Self.version)
        }
    }

    public func rounds() throws(TallyError) -> [RoundRecord] {
        try read("rounds") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rounds ORDER BY id").map { row in
                let start: Double = row["started_at"]
                let end: Double? = row["ended_at"]
                let (id, stage, outcome): (Int64, String, String) = (row["id"], row["stage"], row["outcome"])
                guard let stage = RoundStage(stored: stage), let outcome = RoundOutcome(rawValue: outcome) else {
                    throw TallyError(
                        .storageFailure,
                        "round \(id) in the database has stage '\(stage)' and outcome '\(outcome)', which this release does not know")
                }
                return RoundRecord(
                    id: id, stage: stage, outcome: outcome, reason: row["reason"],
                    cohort: row["cohort"], contributors: row["contributors"], dropped: row["dropped"],
                    version: row["version"], seconds: end.map { $0 - start }, startedAt: start)
            }
        }
    }

    public func participantConnected(_ id: UInt32) throws(TallyError) {
        try write("participant seen") { db in
            let now = Date().timeIntervalSince1970
            try db.execute(
                sql: """
                    INSERT INTO participants (id, first_seen, last_seen, connections) VALUES (?, ?, ?, 1)
                    ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, connections = connections + 1
                    """, arguments: [Int64(id), now, now])
        }
    }

    private static func insert(_ version: VersionRecord, into db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO versions (version, model_hash, parent, round_id, created_at, manifest, signature, accuracy, status, validation)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                version.version, version.modelHash, version.parent, version.roundID, version.createdAt,
                Data(version.manifest), Data(version.signature), version.accuracy, version.status.rawValue,
                version.validation.map { Data($0) },
            ])
    }

    private static func version(_ row: Row) -> VersionRecord {
        VersionRecord(
            version: row["version"], modelHash: row["model_hash"], parent: row["parent"], roundID: row["round_id"],
            createdAt: row["created_at"], manifest: [UInt8](row["manifest"] as Data), signature: [UInt8](row["signature"] as Data),
            accuracy: row["accuracy"], status: VersionStatus(rawValue: (row["status"] as String?) ?? "published") ?? .published,
            validation: (row["validation"] as Data?).map { [UInt8]($0) }, gateScore: row["gate_score"])
    }
}
