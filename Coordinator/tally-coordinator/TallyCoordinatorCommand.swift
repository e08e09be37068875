import ArgumentParser
import TallyCoordinator

@main
struct TallyCoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-coordinator",
        abstract: "Runs a Tally federation: schedules rounds, tallies masked sums, publishes signed model versions.",
        discussion: "The networked service is not built yet; see docs/architecture.md for the modules that exist."
    )
}
