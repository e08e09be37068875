import Foundation
import GRDB

/// A `ledger_records` row as found in the file. Every column is optional: the file may have been
/// edited by hand, and verification must report that, not trap on it. Columns over their size
/// limit are not loaded at all (an audited file may be hostile): they read as missing and the row
/// is marked ``oversized``.
struct StoredLedgerRow {
    /// Largest body, signature and certificate a genuine record has room for. A body lists the
    /// counted participants (a few bytes each), so 1 MiB holds any cohort the protocol allows.
    static let maxBodyBytes = 1 << 20
    static let maxSignatureBytes = 1 << 10
    static let maxCertificateBytes = 64 << 10

    /// The column that holds each record's format (``LedgerRecord/Format``). Ledgers written
    /// before it existed lack it: all their records are v1.
    static let formatColumn = "record_format"

    let sequence: Int64?
    let previousHash: [UInt8]?
    let body: [UInt8]?
    let hash: [UInt8]?
    let signature: [UInt8]?
    let certificatePEM: String?
    /// The stored format number (1 when the file has no format column); nil if not an integer.
    let formatNumber: Int64?
    /// A column was over its limit and left unread.
    let oversized: Bool

    /// Every row, in sequence order; `hasFormatColumn` says whether the table has ``formatColumn``.
    static func selectAll(hasFormatColumn: Bool) -> String {
        """
        SELECT sequence,
               CASE WHEN length(previous_hash) <= 64 THEN previous_hash END,
               CASE WHEN length(body) <= \(maxBodyBytes) THEN body END,
               CASE WHEN length(hash) <= 64 THEN hash END,
               CASE WHEN length(signature) <= \(maxSignatureBytes) THEN signature END,
               CASE WHEN length(signer_certificate) <= \(maxCertificateBytes) THEN signer_certificate END,
               length(previous_hash) > 64 OR length(body) > \(maxBodyBytes) OR length(hash) > 64
                   OR length(signature) > \(maxSignatureBytes) OR length(signer_certificate) > \(maxCertificateBytes),
               \(hasFormatColumn ? "CASE WHEN typeof(\(formatColumn)) = 'integer' THEN \(formatColumn) END" : "1")
        FROM ledger_records ORDER BY sequence
        """
    }

    init(_ row: Row) {
        sequence = Int64.fromDatabaseValue(row[0])
        previousHash = Data.fromDatabaseValue(row[1]).map { [UInt8]($0) }
        body = Data.fromDatabaseValue(row[2]).map { [UInt8]($0) }
        hash = Data.fromDatabaseValue(row[3]).map { [UInt8]($0) }
        signature = Data.fromDatabaseValue(row[4]).map { [UInt8]($0) }
        certificatePEM = String.fromDatabaseValue(row[5])
        oversized = Bool.fromDatabaseValue(row[6]) ?? false
        formatNumber = Int64.fromDatabaseValue(row[7])
    }

    /// The record's format, if the stored number is one this version knows.
    var format: LedgerRecord.Format? {
        formatNumber.flatMap { Int(exactly: $0) }.flatMap(LedgerRecord.Format.init(rawValue:))
    }

    /// The record, if every column is present and the format is known.
    var record: LedgerRecord? {
        guard let format, let sequence, let previousHash, let body, let hash, let signature, let certificatePEM else { return nil }
        return LedgerRecord(
            format: format, sequence: sequence, previousHash: previousHash, body: body, hash: hash,
            signature: signature, signerCertificatePEM: certificatePEM)
    }
}
