import ArgumentParser
import Foundation
import Logging
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyRound
import TallyWire

@main
struct TallyCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-coordinator",
        abstract: "Runs a Tally federation: schedules rounds, tallies masked sums, publishes signed model versions.",
        version: TallyVersion.current,
        subcommands: [Serve.self, Init.self, CheckConfig.self, Provision.self, Registry.self, Status.self, Demo.self])
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a coordinator configuration with every key at its default (docs/operations.md explains each).")

    @Option(help: "Where to write it.") var output = "coordinator.json"
    @Flag(help: "Replace an existing file.") var force = false

    func run() throws {
        do {
            try CoordinatorConfiguration.writeDefaults(to: output, replace: force)
        } catch {
            throw ValidationError(error.message)
        }
        print(
            "wrote \(output): every key at its default; edit tls, host and port, then `tally-coordinator check-config --config \(output)`")
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a coordinator configuration without starting anything.")

    @Option(help: "JSON configuration file.") var config: String

    func run() throws {
        do {
            let c = try CoordinatorConfiguration.load(path: config)
            let initial = try c.initialModel()
            let parameterCount = initial.parameterCount
            let z = try c.noiseMultiplier(
                parameterCount: parameterCount, firstRoundVectorLength: initial.measuresMoments ? initial.roundVectorLength : nil)
            print(
                "\(config): valid. \(c.rounds) rounds, cohorts of \(c.minParticipants)...\(c.maxCohort), \(parameterCount) parameters, noise multiplier z = \(String(format: "%.4f", z)) for (ε = \(c.privacy.targetEpsilon.map { "\($0)" } ?? "-"), δ = \(c.privacy.delta))"
            )
        } catch {
            print("error: \(error.message)")
            throw ExitCode(2)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the coordinator service (until its rounds are done or SIGTERM).")

    @Option(help: "JSON configuration file.") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        ProcessSetup.daemon(logLevel: logLevel)
        let logger = Logger(label: "tally.coordinator")
        let metrics = CoordinatorApp.bootstrapMetrics()
        ConnectionLimits.raiseOpenFileLimit(logger: logger)
        do {
            let configuration = try CoordinatorConfiguration.load(path: config)
            try await CoordinatorApp(configuration: configuration, logger: logger, hooks: Self.faultInjection(logger: logger))
                .run(metrics: metrics)
        } catch let error as TallyError {
            logger.error("coordinator stopped", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
    }

    /// Test-only faults named by TALLY_FAULT_INJECTION, so the multi-process tests can stop the
    /// coordinator at an exact point of a release; unset, nothing is installed.
    static func faultInjection(logger: Logger) -> RoundHooks {
        switch ProcessInfo.processInfo.environment["TALLY_FAULT_INJECTION"] {
        case "abort-after-unmask":
            return RoundHooks(sumUnmasked: { round in
                if round == 1 { throw TallyError(.integrityFailure, "fault injection: aborting after the sum was unmasked") }
            })
        case "exit-after-ledger-append":
            return RoundHooks(ledgerAppended: { _ in
                logger.warning("fault injection: exiting between the ledger entry and publication")
                Foundation.exit(87)
            })
        default:
            return .none
        }
    }
}

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a federation's CA and one folder per party (certificate, key, CA, configuration, next steps).",
        discussion: """
            DESCRIPTION is a JSON file: {"name": "…", "coordinator": {"host": "tally.example.org", "port": 7443},
            "organizations": ["st-marys", "city-clinic", "general"], "operators": ["oncall"], "certificateDays": 365}.
            Running it again adds new organizations and operators and leaves existing ones alone.
            """)

    @Option(help: "The federation description (JSON).") var description: String?
    @Option(help: "Where the CA and the folders go.") var output = "federation"
    @Option(help: "The certs/ scripts folder (default: found beside the executable or ./certs).") var certs: String?
    @Option(help: "Issue a new certificate and key for this organization (its old ones are kept as *.previous).") var renew: String?
    @Option(help: "Validity of a renewed certificate, in days.") var days = 365

    func run() throws {
        do {
            let scripts = try FederationKit.scripts(explicit: certs)
            if let renew {
                let id = try FederationKit.renew(renew, in: output, scripts: scripts, days: days)
                print("renewed \(renew) (participant \(id)): \(output)/\(renew)/cert.pem and key.pem; send them and restart its daemon")
                return
            }
            guard let description else { throw ValidationError("pass --description FILE (or --renew NAME)") }
            let made = try FederationKit.provision(try FederationDescription.load(path: description), into: output, scripts: scripts)
            print(made.isEmpty ? "\(output): nothing new to create" : "created in \(output):\n  " + made.joined(separator: "\n  "))
            print("next: read \(output)/coordinator/NEXT-STEPS.md; send each organization its folder")
        } catch let error as TallyError {
            print("error: \(error.message)")
            throw ExitCode(2)
        }
    }
}
