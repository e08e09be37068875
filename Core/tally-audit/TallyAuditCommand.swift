import ArgumentParser
import TallyCore

@main
struct TallyAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-audit",
        abstract: "The privacy officer's tool: verify privacy ledgers, report ε, plan training.",
        discussion:
            "`verify` and `report` read a coordinator's or a participant's privacy ledger, offline; `crosscheck` compares a participant's ledger with the coordinator's; `epsilon` and `calibrate` plan a federation's privacy cost.",
        version: TallyVersion.current,
        subcommands: [Verify.self, Report.self, Crosscheck.self, Epsilon.self, Calibrate.self])
}

enum AccountantChoice: String, ExpressibleByArgument, CaseIterable {
    case rdp, sgm, pld

    /// How the output names the figure: RDP is what budgets are enforced with; the others are
    /// tighter figures for the continuous Gaussian that no budget accepts for a plan.
    var label: String {
        switch self {
        case .rdp: "RDP, the bound budgets are enforced with"
        case .sgm: "sampled-Gaussian RDP, tight for the continuous Gaussian, not enforced"
        case .pld: "PLD, a tight estimate, not enforced"
        }
    }

    var accountant: any PrivacyAccountant {
        switch self {
        case .rdp: EnforcedRDPAccountant()
        case .sgm: RDPAccountant()
        case .pld: PLDAccountant()
        }
    }
}

let accountantHelp = ArgumentHelp(
    "Accountant: rdp (the bound budgets are enforced with: for q < 1, Zhu–Wang's subsampling bound on the distributed discrete Gaussian), sgm (Mironov's sampled-Gaussian RDP, tight for a continuous Gaussian, not enforced) or pld (a tight estimate, not enforced)."
)

/// q, honestly: Tally claims no amplification for cohorts the coordinator chooses (organization
/// unit), so q is 1 unless records are Poisson-sampled (the record unit).
let samplingRateHelp = ArgumentHelp(
    "Poisson sampling rate q of the privacy unit (default 1). Leave it at 1 for the organization unit: cohorts are chosen by the coordinator, so no amplification by sampling can be claimed; q < 1 describes record-level rounds (privacy.samplingRate)."
)

struct Epsilon: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "ε after T rounds of the Gaussian mechanism at noise multiplier z (Poisson-subsampled if q < 1).")

    @Option(help: "Noise multiplier z (noise standard deviation over the clip norm).") var noiseMultiplier: Double
    @Option(help: samplingRateHelp) var samplingRate: Double = 1
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: accountantHelp) var accountant: AccountantChoice = .rdp
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let epsilon = try accountant.accountant.epsilon(
            noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
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
            "Defaults to the RDP bound budgets are enforced with, so the z it prints is one the coordinator's calibration and the participants' budgets accept (up to the plan's τ term, negligible at Tally's share σ²). --accountant sgm or pld gives a smaller z from a tighter figure for the continuous Gaussian that the enforced bound puts above the target when q < 1."
    )

    @Option(help: "Target ε.") var epsilon: Double
    @Option(help: samplingRateHelp) var samplingRate: Double = 1
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: accountantHelp) var accountant: AccountantChoice = .rdp

    func run() throws {
        let result = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, accountant: accountant.accountant)
        print(
            "z = \(result.noiseMultiplier) gives ε = \(result.epsilon) ≤ \(epsilon) at δ = \(delta) after \(steps) rounds (q = \(samplingRate); \(accountant.label))"
        )
    }
}
