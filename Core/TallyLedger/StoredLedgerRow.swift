import Foundation
import GRDB

/// A `ledger_records` row as found in the file. Every column is optional: the file may have been
/// edited by hand, and verification must report that, not trap on it.
struct StoredLedgerRow {
    let sequence: Int64?
    let previousHash: [UInt8]?
    let body: [UInt8]?
    let hash: [UInt8]?
    let signature: [UInt8]?
    let certificatePEM: String?

    static let selectAll = """
        SELECT sequence, previous_hash, body, hash, signature, signer_certificate FROM ledger_records ORDER BY sequence
        """

    init(_ row: Row) {
        sequence = Int64.fromDatabaseValue(row[0])
        previousHash = Data.fromDatabaseValue(row[1]).map { [UInt8]($0) }
        body = Data.fromDatabaseValue(row[2]).map { [UInt8]($0) }
        hash = Data.fromDatabaseValue(row[3]).map { [UInt8]($0) }
        signature = Data.fromDatabaseValue(row[4]).map { [UInt8]($0) }
        certificatePEM = String.fromDatabaseValue(row[5])
    }

    /// The record, if every column is present.
    var record: LedgerRecord? {
        guard let sequence, let previousHash, let body, let hash, let signature, let certificatePEM else { return nil }
        return LedgerRecord(sequence: sequence, previousHash: previousHash, body: body, hash: hash,
                            signature: signature, signerCertificatePEM: certificatePEM)
    }
}
