import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TallyCore
import TallyParticipant
import TallyWire

@main
struct TallyParticipantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-participant",
        abstract: "An organization's participant daemon: trains locally, masks its update, talks to the coordinator over mutual TLS.",
        version: TallyVersion.current,
        subcommands: [Run.self, Init.self, CheckConfig.self, Models.self])
}

/// The models this organization helped train: listed and fetched over its own mTLS identity,
/// verified (signature under the federation CA, hash) before anything is written.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and fetch the federation's published models.", subcommands: [List.self, Pull.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per published version; the published channel marked.")
        @Option(help: "JSON configuration file (the coordinator's address and this organization's certificate).") var config: String
        func run() async throws {
            do {
                let list = try await PublishedModels(configuration: try ParticipantConfiguration.load(path: config)).list()
                print("version  status       fed. acc.  fed. loss  model")
                for v in list.versions {
                    print(
                        String(
                            format: "%7lld  %-11@  %9@  %9@  %@%@", v.version, v.status,
                            v.hasFederatedAccuracy ? String(format: "%.4f", v.federatedAccuracy) : "-",
                            v.hasFederatedLoss ? String(format: "%.4f", v.federatedLoss) : "-", v.modelHash,
                            list.hasPublishedVersion && list.publishedVersion == v.version ? "  ← published channel" : ""))
                }
            } catch let error as TallyError {
                print("error: \(error.message)")
                throw ExitCode(1)
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a published version, verify its signed manifest and its hash, and write its safetensors file atomically.",
            discussion: "Exit status: 0 written, 1 refused (nothing written).")
        @Option(help: "JSON configuration file (the coordinator's address and this organization's certificate).") var config: String
        @Option(help: "Version to fetch (default: the published channel's).") var version: Int64?
        @Option(help: "Where to write the model (safetensors).") var out: String
        func run() async throws {
            do {
                let manifest = try await PublishedModels(configuration: try ParticipantConfiguration.load(path: config))
                    .pull(version: version, to: out)
                print(
                    "wrote \(out): version \(manifest.version), sha256 \(manifest.modelHash), manifest signed by the coordinator (verified)"
                )
            } catch let error as TallyError {
                print("error: \(error.message)")
                throw ExitCode(1)
            }
        }
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a participant configuration with every key at its default (docs/operations.md explains each).")

    @Option(help: "Where to write it.") var output = "participant.json"
    @Flag(help: "Replace an existing file.") var force = false

    func run() throws {
        do {
            try ParticipantConfiguration.writeDefaults(to: output, replace: force)
        } catch {
            throw ValidationError(error.message)
        }
        print(
            "wrote \(output): every key at its default; edit coordinatorHost, tls, data and privacyBudget, then `tally-participant check-config --config \(output)`"
        )
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a participant configuration without connecting or training.")

    @Option(help: "JSON configuration file.") var config: String

    func run() throws {
        do {
            let c = try ParticipantConfiguration.load(path: config)
            print(
                "\(config): valid. coordinator \(c.coordinatorHost):\(c.coordinatorPort), trainer \(c.trainer), budget ε = \(c.privacyBudget.epsilon) at δ = \(c.privacyBudget.delta)"
            )
        } catch {
            print("error: \(error.message)")
            throw ExitCode(2)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon until SIGTERM or SIGINT.")

    @Option(help: "JSON configuration file.") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        ProcessSetup.daemon(logLevel: logLevel)
        var logger = Logger(label: "tally.participant")
        do {
            let configuration = try ParticipantConfiguration.load(path: config)
            logger[metadataKey: "organization"] = "\(configuration.data.index + 1)"
            let daemon = ParticipantDaemon(configuration: configuration, hooks: Self.faultInjection(logger: logger), logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    // The daemon returns when the federation has finished: the process exits 0.
                    services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch let error as TallyError {
            logger.error("participant stopped", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
    }

    /// The test-only fault named by TALLY_FAULT_INJECTION, so the multi-process tests can make a
    /// participant vanish at an exact protocol step; unset, nothing is installed.
    static func faultInjection(logger: Logger) -> ParticipantHooks {
        guard ProcessInfo.processInfo.environment["TALLY_FAULT_INJECTION"] == "exit-before-masked-input" else { return .none }
        return ParticipantHooks(beforeMaskedInput: { _ in
            logger.warning("fault injection: exiting before sending the masked input")
            Foundation.exit(86)
        })
    }
}
