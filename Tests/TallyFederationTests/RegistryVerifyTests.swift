import Foundation
import GRDB
import TallyLocalFederation
import TallyTestSupport
import Testing

/// `tally-coordinator registry show|verify` check manifest signatures under the federation CA by
/// default. The attack: a published version's signature changed in the coordinator's database.
/// Positive control: `show --skip-signature` (what `show` did without `--ca`) does not notice.
/// Real processes on loopback, every one stopped; every wait bounded.
@Suite struct RegistryVerifyTests {
    static let tool = TestEnvironment.executables + "/tally-coordinator"

    static func run(_ arguments: [String]) async throws -> Subprocess.Completion {
        try await Subprocess.run(tool, arguments, timeout: .seconds(120))
    }

    @Test func registryCommandsVerifySignaturesUnderTheCA() async throws {
        let federation = try makeFederation("registry-verify", participants: 2, rounds: 1)
        defer { federation.stopAll() }
        let coordinator = try federation.startCoordinator()
        for i in 1...2 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 150), "the coordinator should finish its round")
        let data = federation.coordinatorData
        let other = TestPKI.shared.otherDirectory + "/ca/ca.crt"

        // Intact: the CA beside the data directory (the federation's layout) is used by default.
        let verified = try await Self.run(["registry", "verify", "--data", data])
        #expect(verified.status == 0 && verified.output.contains("registry verified"), "\(verified.output)")
        let shown = try await Self.run(["registry", "show", "--data", data])
        #expect(shown.status == 0 && shown.output.contains("signature: valid"), "\(shown.output)")
        // Another federation's CA: refused.
        let foreign = try await Self.run(["registry", "verify", "--data", data, "--ca", other])
        #expect(foreign.status == 1 && foreign.output.contains("manifest signature"), "\(foreign.output)")

        // The latest version's signature with one bit flipped.
        try await DatabaseQueue(path: data + "/coordinator.sqlite").write { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT version, signature FROM versions ORDER BY version DESC LIMIT 1"))
            var signature = [UInt8](row["signature"] as Data)
            signature[signature.count / 2] ^= 0x01
            try db.execute(
                sql: "UPDATE versions SET signature = ? WHERE version = ?", arguments: [Data(signature), row["version"] as Int64])
        }
        let skipped = try await Self.run(["registry", "show", "--data", data, "--skip-signature"])
        #expect(skipped.status == 0 && skipped.output.contains("signature: NOT checked"), "\(skipped.output)")
        let tamperedShow = try await Self.run(["registry", "show", "--data", data])
        #expect(tamperedShow.status == 1 && tamperedShow.output.contains("manifest signature"), "\(tamperedShow.output)")
        let tamperedVerify = try await Self.run(["registry", "verify", "--data", data])
        #expect(tamperedVerify.status == 1 && tamperedVerify.output.contains("REGISTRY NOT VERIFIED"), "\(tamperedVerify.output)")
    }

    /// The reading commands never create tables: pointed at a database that is not the
    /// coordinator's (here an SQLite file of another program named coordinator.sqlite), they
    /// refuse it and leave it as it was. Before, `registry list` and `status` migrated it.
    @Test func readingCommandsRefuseAForeignDatabaseAndLeaveItUntouched() async throws {
        let directory = try TestDirectories.make("foreign-database")
        let path = directory + "/coordinator.sqlite"
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)") }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for arguments in [["registry", "list", "--data", directory], ["status", "--data", directory]] {
            let result = try await Self.run(arguments)
            #expect(result.status != 0 && result.output.contains("is not a coordinator database"), "\(arguments): \(result.output)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the file is unchanged")
        let tables = try await DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        #expect(tables == ["notes"])
    }
}
