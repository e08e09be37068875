/// Points of a release where a test stops the coordinator (crash and abort tests). The product
/// installs none; `tally-coordinator serve` installs the faults named by `TALLY_FAULT_INJECTION`
/// for the multi-process tests.
public struct RoundHooks: Sendable {
    /// Called once the sum of round `id` is unmasked, before it is decoded or charged; a throw
    /// aborts the round.
    public var sumUnmasked: @Sendable (_ round: UInt64) throws -> Void
    /// Called once the ledger entry of round `id` is synced, before its version is published.
    public var ledgerAppended: @Sendable (_ round: UInt64) -> Void

    public init(
        sumUnmasked: @escaping @Sendable (UInt64) throws -> Void = { _ in },
        ledgerAppended: @escaping @Sendable (UInt64) -> Void = { _ in }
    ) {
        self.sumUnmasked = sumUnmasked
        self.ledgerAppended = ledgerAppended
    }

    public static let none = RoundHooks()
}
