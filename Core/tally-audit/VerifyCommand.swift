import ArgumentParser
import Foundation
import TallyCore
import TallyLedger

/// `tally-audit verify LEDGER`: the hash chain, every signature, and optionally the certificates
/// against the federation CA.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a privacy ledger's hash chain and signatures (coordinator's or a participant's).",
        discussion: """
            Checks that records run 1, 2, 3, … without gaps, that each links to the one before it, that \
            each hash matches its record, and that each signature verifies under the certificate stored \
            with the record. With --ca, also that every signer certificate was issued by the federation CA. \
            A chain cannot show that records were cut off the end: compare the record count and head hash \
            with a participant's own ledger or a published head (--head).

            Exit status: 0 ledger intact, 1 ledger altered, 2 the file cannot be read as a ledger.
            """)

    @Argument(help: "The ledger file.") var ledger: String
    @Option(name: .customLong("ca"), help: "The federation CA certificate (PEM): check every signer certificate was issued by it.")
    var ca: String?
    @Option(help: "A head hash (hex) published earlier: check the ledger still contains that record.") var head: String?

    func run() throws {
        let outcome: AuditOutcome
        do {
            outcome = try AuditOutcome(path: ledger, caPath: ca, head: head)
        } catch {
            printError("tally-audit verify: \(error)")
            throw ExitCode(2)
        }
        print(outcome.summary().joined(separator: "\n"))
        if !outcome.isIntact { throw ExitCode(1) }
    }
}
