import TallyLedger

/// `tally-audit report --format json`: the report and what it was computed from.
struct ReportDocument: Encodable {
    let ledger: String
    let role: String
    let records: Int
    let intact: Bool
    let headHash: String?
    let report: PrivacyReport
}
