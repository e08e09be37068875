/// What ``PrivacyLedger/verify()`` found.
///
/// A chain of hashes and signatures shows that no record was changed, removed from the middle,
/// inserted or reordered, and who signed each one. It cannot show that records were removed from
/// the *end*: a ledger cut after record k is a valid ledger of k records. Compare ``records`` and
/// ``headHash`` with a copy kept elsewhere (a participant's own ledger, a published head hash).
public struct LedgerVerification: Sendable {
    /// Records checked.
    public let records: Int
    /// Everything that makes the ledger untrustworthy, one line each; empty when intact.
    public let problems: [String]
    public var isIntact: Bool { problems.isEmpty }
    /// The distinct signer certificates (PEM), in order of first use.
    public let signerCertificates: [String]
    /// The stored hash of the last record (nil for an empty ledger): publish it, or compare it with
    /// a published one, to detect truncation.
    public let headHash: [UInt8]?
    /// Observations that do not make the ledger untrustworthy (e.g. a certificate that names no
    /// Tally role, so the role could not be checked against it).
    public let notes: [String]
    /// Records in the old format v1, whose hash does not cover the signer certificate (a note
    /// says what that leaves undetected).
    public let legacyRecords: Int

    public init(
        records: Int, problems: [String], signerCertificates: [String], headHash: [UInt8]?, notes: [String], legacyRecords: Int = 0
    ) {
        self.records = records
        self.problems = problems
        self.signerCertificates = signerCertificates
        self.headHash = headHash
        self.notes = notes
        self.legacyRecords = legacyRecords
    }
}
