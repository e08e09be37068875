import ArgumentParser
import TallyCore

@main
struct TallyAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-audit",
        abstract: "The privacy officer's tool: verify privacy ledgers, report ε, plan training.",
        discussion:
            "`verify` and `report` read a coordinator's or a participant's privacy ledger, offline; `epsilon` and `calibrate` plan a federation's privacy cost.",
        version: TallyVersion.current,
        subcommands: [Verify.self, Report.self, Epsilon.self, Calibrate.self])
}

enum AccountantChoice: String, ExpressibleByArgument, CaseIterable {
    case rdp, pld

    /// How the output names the figure: RDP is what budgets are enforced with; PLD is an estimate.
    var label: String { self == .rdp ? "RDP, the bound budgets are enforced with" : "PLD, a tight estimate, not enforced" }
}

/// q, honestly: Tally claims no amplification for cohorts the coordinator chooses (organization
/// unit), so q is 1 unless records are Poisson-sampled (record unit, a later feature).
let samplingRateHelp = ArgumentHelp(
    "Poisson sampling rate q of the privacy unit (default 1). Leave it at 1 for the organization unit: cohorts are chosen by the coordinator, so no amplification by sampling can be claimed; q < 1 only describes record-level Poisson sampling."
)

struct Epsilon: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "ε after T rounds of the Gaussian mechanism at noise multiplier z (Poisson-subsampled if q < 1).")

    @Option(help: "Noise multiplier z (noise standard deviation over the clip norm).") var noiseMultiplier: Double
    @Option(help: samplingRateHelp) var samplingRate: Double = 1
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: "Accountant: rdp (the bound budgets are enforced with) or pld (a tighter estimate).") var accountant: AccountantChoice =
        .rdp
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let epsilon: Double =
            switch accountant {
            case .rdp: try RDPAccountant().epsilon(noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
            case .pld: try PLDAccountant().epsilon(noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
            }
        if json {
            print(
                "{\"accountant\":\"\(accountant.rawValue)\",\"noise_multiplier\":\(noiseMultiplier),\"sampling_rate\":\(samplingRate),\"steps\":\(steps),\"delta\":\(delta),\"epsilon\":\(epsilon)}"
            )
        } else {
            print("ε = \(epsilon) at δ = \(delta) after \(steps) rounds (z = \(noiseMultiplier), q = \(samplingRate); \(accountant.label))")
        }
    }
}

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The smallest noise multiplier z whose ε after T rounds stays within the target.",
        discussion:
            "Defaults to the RDP accountant, the bound budgets are enforced with, so the z it prints is one the budgets accept. --accountant pld gives a smaller z from a tight estimate that the ledger's enforced bound may put above the target."
    )

    @Option(help: "Target ε.") var epsilon: Double
    @Option(help: samplingRateHelp) var samplingRate: Double = 1
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: "Accountant: rdp (the bound budgets are enforced with) or pld (an estimate).") var accountant: AccountantChoice = .rdp

    func run() throws {
        let result: NoiseCalibration.Result =
            switch accountant {
            case .rdp:
                try NoiseCalibration.noiseMultiplier(
                    targetEpsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, accountant: RDPAccountant())
            case .pld:
                try NoiseCalibration.noiseMultiplier(
                    targetEpsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, accountant: PLDAccountant())
            }
        print(
            "z = \(result.noiseMultiplier) gives ε = \(result.epsilon) ≤ \(epsilon) at δ = \(delta) after \(steps) rounds (q = \(samplingRate); \(accountant.label))"
        )
    }
}
