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
            each hash matches its record (including, in format v2, the signer certificate stored with it), \
            and that each signature verifies under that certificate. With --ca, also that every signer \
            certificate was issued by the federation CA. Records in the old format v1 do not hash their \
            certificate: the output says how many there are and what that leaves to --ca. \
            A chain cannot show that records were cut off the end: compare the record count and head hash \
            with a participant's own ledger or a published head (--head).

            Exit status: 0 ledger intact, 1 ledger altered, 2 the file cannot be read as a ledger.
            """)

    @OptionGroup var options: LedgerOptions

    func run() throws {
        let outcome: AuditOutcome
        do {
            outcome = try AuditOutcome(options)
        } catch {
            printError("tally-audit verify: \(error)")
            throw ExitCode(2)
        }
        print(outcome.summary().joined(separator: "\n"))
        if !outcome.isIntact { throw ExitCode(1) }
    }
}
