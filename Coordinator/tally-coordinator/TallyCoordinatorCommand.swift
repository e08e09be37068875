import ArgumentParser
import Foundation
import Logging
import TallyCoordinator
import TallyCore
import TallyWire

@main
struct TallyCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-coordinator",
        abstract: "Runs a Tally federation: schedules rounds, tallies masked sums, publishes signed model versions.",
        subcommands: [Serve.self, Registry.self, Status.self, Demo.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the coordinator service (until its rounds are done or SIGTERM).")

    @Option(help: "JSON configuration file.") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        ProcessSetup.daemon(logLevel: logLevel)
        let logger = Logger(label: "tally.coordinator")
        let metrics = CoordinatorApp.bootstrapMetrics()
        do {
            let configuration = try CoordinatorConfiguration.load(path: config)
            try await CoordinatorApp(configuration: configuration, logger: logger).run(metrics: metrics)
        } catch let error as TallyError {
            logger.error("coordinator stopped", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
    }
}
