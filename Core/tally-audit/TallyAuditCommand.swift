import ArgumentParser
import TallyCore

@main
struct TallyAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-audit",
        abstract: "The privacy officer's tool: verify privacy ledgers, report ε, plan training.",
        discussion: "`verify` and `report` read a coordinator's or a participant's privacy ledger, offline; `epsilon` and `calibrate` plan a federation's privacy cost.",
        subcommands: [Verify.self, Report.self, Epsilon.self, Calibrate.self])
}

enum AccountantChoice: String, ExpressibleByArgument, CaseIterable {
    case rdp, pld
}

struct Epsilon: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "ε after T rounds of the Poisson-subsampled Gaussian mechanism (participant-level).")

    @Option(help: "Noise multiplier z (noise standard deviation over the clip norm).") var noiseMultiplier: Double
    @Option(help: "Sampling rate q: the probability an organization is in a round's cohort.") var samplingRate: Double
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: "Accountant: rdp or pld (tighter).") var accountant: AccountantChoice = .pld
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let epsilon: Double = switch accountant {
        case .rdp: try RDPAccountant().epsilon(noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
        case .pld: try PLDAccountant().epsilon(noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
        }
        if json {
            print("{\"accountant\":\"\(accountant.rawValue)\",\"noise_multiplier\":\(noiseMultiplier),\"sampling_rate\":\(samplingRate),\"steps\":\(steps),\"delta\":\(delta),\"epsilon\":\(epsilon)}")
        } else {
            print("ε = \(epsilon) at δ = \(delta) after \(steps) rounds (z = \(noiseMultiplier), q = \(samplingRate), \(accountant.rawValue.uppercased()))")
        }
    }
}

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The smallest noise multiplier z whose ε after T rounds stays within the target.")

    @Option(help: "Target ε.") var epsilon: Double
    @Option(help: "Sampling rate q.") var samplingRate: Double
    @Option(help: "Rounds T.") var steps: Int
    @Option(help: "δ.") var delta: Double
    @Option(help: "Accountant: rdp or pld (tighter).") var accountant: AccountantChoice = .pld

    func run() throws {
        let result: NoiseCalibration.Result = switch accountant {
        case .rdp: try NoiseCalibration.noiseMultiplier(targetEpsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, accountant: RDPAccountant())
        case .pld: try NoiseCalibration.noiseMultiplier(targetEpsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, accountant: PLDAccountant())
        }
        print("z = \(result.noiseMultiplier) gives ε = \(result.epsilon) ≤ \(epsilon) at δ = \(delta) after \(steps) rounds (q = \(samplingRate), \(accountant.rawValue.uppercased()))")
    }
}
