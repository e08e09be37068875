import ArgumentParser
import TallyCore

@main
struct TallyAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-audit",
        abstract: "Recomputes every ε from a Tally privacy ledger and verifies the ledger is intact.",
        discussion: "The ledger and accountant are not built yet; see docs/architecture.md."
    )
}
