import ArgumentParser
import TallyParticipant

@main
struct TallyParticipantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-participant",
        abstract: "An organization's participant daemon: trains locally, clips, noises and masks its update.",
        discussion: "The networked daemon is not built yet; see docs/architecture.md for the modules that exist."
    )
}
