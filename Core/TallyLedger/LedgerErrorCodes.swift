public import TallyCore

extension TallyError.Code {
    // The privacy ledger (Core/TallyLedger). Prefixed so they cannot collide with codes other
    // parts of the package add.

    /// The ledger file cannot be opened, read or written (missing, unreadable, disk full, locked).
    public static let ledgerStorageFailure = Self(rawValue: "ledger-storage-failure")
    /// The file is not a Tally privacy ledger, or a record in it cannot be read as one.
    public static let ledgerMalformed = Self(rawValue: "ledger-malformed")
}
