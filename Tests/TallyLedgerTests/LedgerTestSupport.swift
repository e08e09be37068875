import Foundation
import GRDB
import TallyCore
@testable import TallyLedger

/// A federation PKI made at test time with the repository's own scripts (never committed):
/// a CA, the coordinator, participants 1 and 2, a second CA, and a self-signed certificate
/// without a Tally role.
final class TestPKI: Sendable {
    static let shared: TestPKI = {
        do { return try TestPKI() } catch { fatalError("cannot create the test PKI: \(error)") }
    }()

    let directory: String
    let otherDirectory: String

    private init() throws {
        directory = try temporaryDirectory("pki")
        otherDirectory = try temporaryDirectory("other-pki")
        let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("certs").path
        try run("/bin/bash", [scripts + "/create-federation-ca.sh", directory, "Ledger Test CA", "2"])
        try run("/bin/bash", [scripts + "/issue-certificate.sh", directory, "coordinator"])
        try run("/bin/bash", [scripts + "/issue-certificate.sh", directory, "participant", "1", "2"])
        try run("/bin/bash", [scripts + "/issue-certificate.sh", directory, "participant", "2", "2"])
        try run("/bin/bash", [scripts + "/create-federation-ca.sh", otherDirectory, "Another CA", "2"])
        try run("/bin/bash", [scripts + "/issue-certificate.sh", otherDirectory, "coordinator"])
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                     "-subj", "/CN=test", "-days", "2", "-keyout", directory + "/plain.key", "-out", directory + "/plain.crt"])
    }

    struct Identity {
        let key: SigningPrivateKey
        let certificatePEM: String
    }

    func identity(_ name: String, other: Bool = false) throws -> Identity {
        let dir = (other ? otherDirectory : directory) + "/" + name
        return Identity(key: try SigningPrivateKey(pem: try String(contentsOfFile: dir + "/key.pem", encoding: .utf8)),
                        certificatePEM: try String(contentsOfFile: dir + "/cert.pem", encoding: .utf8))
    }

    var coordinator: Identity { get throws { try identity("coordinator") } }
    func participant(_ id: UInt32) throws -> Identity { try identity("participant-\(id)") }
    var plain: Identity {
        get throws {
            Identity(key: try SigningPrivateKey(pem: try String(contentsOfFile: directory + "/plain.key", encoding: .utf8)),
                     certificatePEM: try String(contentsOfFile: directory + "/plain.crt", encoding: .utf8))
        }
    }
    var caPEM: String { get throws { try String(contentsOfFile: directory + "/ca/ca.crt", encoding: .utf8) } }
    var otherCAPEM: String { get throws { try String(contentsOfFile: otherDirectory + "/ca/ca.crt", encoding: .utf8) } }
}

func run(_ executable: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TallyError(.invalidArgument, "\(executable) \(arguments.joined(separator: " ")): \(output)")
    }
}

/// One directory per test process; directories left by earlier processes that have exited are
/// removed when the first test asks for one.
let testRoot: String = {
    let temporary = NSTemporaryDirectory(), prefix = "tally-ledger-tests-run-"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
        if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH {
            try? FileManager.default.removeItem(atPath: temporary + "/" + name)
        }
    }
    return temporary + "/" + prefix + "\(getpid())"
}()

func temporaryDirectory(_ label: String) throws -> String {
    let path = testRoot + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A fresh ledger path in its own directory.
func temporaryLedgerPath() throws -> String {
    try temporaryDirectory("ledger") + "/ledger.sqlite"
}

/// The realistic round: 3 survivors' shares of σ² = 2·10⁷, Δ₂ = 7800, d = 8192, q = 1, t = 3, c = 0.
func entry(round: UInt64, participants: [UInt32] = [1, 2, 3], samplingRate: Double = 1, shareSigmaSquared: Double = 2.0e7,
           noiseShares: Int = 3, l2Sensitivity: Double = 7800, dimension: Int = 8192, noiseMultiplier: Double = 1.0,
           mechanism: String = LedgerEntry.distributedDiscreteGaussian, deltaClamp: Double = 0) -> LedgerEntry {
    LedgerEntry(roundID: round, modelVersion: Int64(round), modelHash: String(repeating: "ab", count: 32),
                participants: participants, cohortSize: max(participants.count, 3), privacyUnit: LedgerEntry.organizationUnit,
                samplingRate: samplingRate, clipNorm: 1.0, noiseMultiplier: noiseMultiplier, mechanism: mechanism,
                shareSigmaSquared: shareSigmaSquared, noiseShares: noiseShares, threshold: 3, collusionMargin: 0,
                l2Sensitivity: l2Sensitivity, dimension: dimension, deltaClamp: deltaClamp, recordedAt: 1_800_000_000 + Double(round))
}

/// An entry of the old clamped mechanism, as written before noised values stopped being clamped.
func clampedEntry(round: UInt64, participants: [UInt32] = [1], shareSigmaSquared: Double = 2.0e7, deltaClamp: Double) -> LedgerEntry {
    entry(round: round, participants: participants, shareSigmaSquared: shareSigmaSquared,
          mechanism: LedgerEntry.clampedDistributedDiscreteGaussian, deltaClamp: deltaClamp)
}

/// Changes the ledger file directly, as someone with access to the disk would.
func tamper(_ path: String, _ body: @escaping @Sendable (Database) throws -> Void) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.write { db in try body(db) }
    try queue.close()
}

/// A coordinator ledger with `count` realistic entries; returns its path.
func coordinatorLedger(entries count: Int) throws -> String {
    let path = try temporaryLedgerPath()
    let identity = try TestPKI.shared.coordinator
    let ledger = try PrivacyLedger(path: path, role: .coordinator, signingKey: identity.key, certificatePEM: identity.certificatePEM)
    for round in 1...count { try ledger.append(entry(round: UInt64(round))) }
    return path
}
