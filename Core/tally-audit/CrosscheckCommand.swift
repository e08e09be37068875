import ArgumentParser
import Foundation
import TallyCore
import TallyLedger

/// `tally-audit crosscheck PARTICIPANT_LEDGER COORDINATOR_LEDGER`: both ledgers verified, then
/// compared round by round (``LedgerCrosscheck``), every difference explained.
struct Crosscheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a participant's own ledger with the coordinator's, round by round, and explain every difference.",
        discussion: """
            Both ledgers are verified first (hash chain, signatures; with --ca, the signer certificates). \
            A participant charges itself before its input leaves, so rounds it holds that the coordinator \
            did not release, or released without it, are expected. A round the coordinator counted it in \
            that its own ledger never charged, or an entry with other parameters or fewer noise shares \
            than the plan guaranteed, is not.

            Exit status: 0 every difference expected, 1 an unexpected difference or a ledger altered, \
            2 a file cannot be read as a ledger.
            """)

    @Argument(help: "The participant's own ledger.") var participantLedger: String
    @Argument(help: "The coordinator's ledger.") var coordinatorLedger: String
    @Option(name: .customLong("ca"), help: "The federation CA certificate (PEM): check every signer certificate was issued by it.")
    var ca: String?

    func run() throws {
        let own: AuditOutcome
        let coordinator: AuditOutcome
        let check: LedgerCrosscheck
        do {
            own = try AuditOutcome(path: participantLedger, caPath: ca, head: nil)
            coordinator = try AuditOutcome(path: coordinatorLedger, caPath: ca, head: nil)
            check = try LedgerCrosscheck(own: try own.ledger.entries(), coordinator: try coordinator.ledger.entries())
        } catch {
            printError("tally-audit crosscheck: \(error)")
            throw ExitCode(2)
        }
        var altered = false
        for (name, outcome) in [("participant's ledger", own), ("coordinator's ledger", coordinator)] where !outcome.isIntact {
            altered = true
            print("\(name): NOT INTACT")
            for problem in outcome.problems { print("  \(problem)") }
        }
        print("participant \(check.participant): \(check.findings.count) rounds compared")
        print("round  finding")
        for finding in check.findings { print(String(format: "%5llu  %@", finding.round, finding.explanation)) }
        let counts = Dictionary(grouping: check.findings) { $0.isExpected }.mapValues(\.count)
        print(
            "\(counts[true, default: 0]) rounds agree or differ as expected, \(counts[false, default: 0]) differ unexpectedly")
        if altered || !check.unexpected.isEmpty { throw ExitCode(1) }
    }
}
