import Foundation
import GRDB
import TallyCore
import TallyTestSupport

@testable import TallyLedger

func temporaryDirectory(_ label: String) throws -> String {
    try TestDirectories.make(label)
}

/// A fresh ledger path in its own directory.
func temporaryLedgerPath() throws -> String {
    try temporaryDirectory("ledger") + "/ledger.sqlite"
}

/// The realistic round: 3 survivors' shares of σ² = 2·10⁷, Δ₂ = 7800, d = 8192, q = 1, t = 3, c = 0.
func entry(
    round: UInt64, participants: [UInt32] = [1, 2, 3], samplingRate: Double = 1, shareSigmaSquared: Double = 2.0e7,
    noiseShares: Int = 3, l2Sensitivity: Double = 7800, dimension: Int = 8192, noiseMultiplier: Double = 1.0,
    mechanism: String = LedgerEntry.distributedDiscreteGaussian, deltaClamp: Double = 0
) -> LedgerEntry {
    LedgerEntry(
        roundID: round, modelVersion: Int64(round), modelHash: String(repeating: "ab", count: 32),
        participants: participants, cohortSize: max(participants.count, 3),
        privacyUnit: samplingRate < 1 ? LedgerEntry.recordUnit : LedgerEntry.organizationUnit,
        samplingRate: samplingRate, clipNorm: 1.0, noiseMultiplier: noiseMultiplier, mechanism: mechanism,
        shareSigmaSquared: shareSigmaSquared, noiseShares: noiseShares, threshold: 3, collusionMargin: 0,
        l2Sensitivity: l2Sensitivity, dimension: dimension, deltaClamp: deltaClamp, recordedAt: 1_800_000_000 + Double(round))
}

/// An entry of the old clamped mechanism, as written before noised values stopped being clamped.
func clampedEntry(round: UInt64, participants: [UInt32] = [1], shareSigmaSquared: Double = 2.0e7, deltaClamp: Double) -> LedgerEntry {
    entry(
        round: round, participants: participants, shareSigmaSquared: shareSigmaSquared,
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
