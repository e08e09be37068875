import TallyLedger

/// `tally-audit report --format json`: the report and what it was computed from.
struct ReportDocument: Encodable {
    let ledger: String
    let role: String
    let records: Int
    let intact: Bool
    let headHash: String?
    /// What ε protects: which pairs of datasets count as neighbours.
    let neighbouringRelation: String
    let report: PrivacyReport
}
