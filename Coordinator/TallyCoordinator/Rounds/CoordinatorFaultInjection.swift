import Foundation

/// Test-only faults, chosen with the TALLY_FAULT_INJECTION environment variable, so that the
/// multi-process tests can stop the coordinator at an exact point of a release. Unset in
/// production; a value the coordinator does not know is ignored.
enum CoordinatorFaultInjection: String {
    /// Exit after the ledger entry is synced and before the model is published.
    case exitAfterLedgerAppend = "exit-after-ledger-append"
    /// Abort the first round right after the sum is unmasked (before decoding and the ledger).
    case abortAfterUnmask = "abort-after-unmask"

    static let current = ProcessInfo.processInfo.environment["TALLY_FAULT_INJECTION"].flatMap(Self.init(rawValue:))
}
