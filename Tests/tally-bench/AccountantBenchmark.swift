import ArgumentParser
import Foundation
import TallyCore
import TallyLocalFederation

/// `tally-bench accountant --json`: ε for T rounds of the subsampled Gaussian with our RDP and PLD
/// accountants, next to Google's dp_accounting on the same case in the same run (when a Python
/// with dp-accounting is available, e.g. the venv that
/// Tests/TallyCoreTests/Vectors/generate_dp_accounting.py makes).
struct AccountantBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accountant",
        abstract: "Accountant ε and seconds, next to dp_accounting in the same run.")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Noise multiplier z.") var noiseMultiplier = 1.0
    @Option(help: "Sampling rate q.") var samplingRate = 0.01
    @Option(help: "Rounds T.") var steps = 10_000
    @Option(help: "δ.") var delta = 1e-5
    @Option(help: "Python with dp-accounting installed (skipped if missing).") var python = "/tmp/dpacct-venv/bin/python"

    struct Row: Encodable {
        let accountant: String
        let epsilon: Double
        let seconds: Double
    }

    struct Report: Encodable {
        let benchmark = "accountant"
        let machine = MachineInfo()
        let noiseMultiplier: Double, samplingRate: Double, steps: Int, delta: Double
        let tally: [Row]
        let dpAccounting: [Row]?
        let dpAccountingNote: String
        /// dp_accounting seconds over ours, per accountant (same method).
        let speedup: [String: Double]
        /// Our ε over dp_accounting's (≥ 1 means we are at or above the reference, never below).
        let epsilonRatio: [String: Double]
    }

    func run() throws {
        var rdpEpsilon = 0.0, pldEpsilon = 0.0
        let rdpSeconds = try Measure.best {
            rdpEpsilon = try RDPAccountant().epsilon(
                noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
        }
        let pldSeconds = try Measure.best {
            pldEpsilon = try PLDAccountant().epsilon(
                noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta)
        }
        let ours = [
            Row(accountant: "rdp", epsilon: rdpEpsilon, seconds: rdpSeconds),
            Row(accountant: "pld", epsilon: pldEpsilon, seconds: pldSeconds),
        ]

        var reference: [Row]?
        var note = "dp_accounting not run: \(python) not found"
        if FileManager.default.isExecutableFile(atPath: python) {
            let script = """
                import json, time, dp_accounting
                from dp_accounting.rdp import rdp_privacy_accountant as rdp
                from dp_accounting.pld import pld_privacy_accountant as pld
                from importlib import metadata
                z, q, T, d = \(noiseMultiplier), \(samplingRate), \(steps), \(delta)
                ev = lambda: dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), T)
                def best(make):
                    out = None; ts = []
                    for _ in range(3):
                        t0 = time.perf_counter(); a = make(); a.compose(ev()); out = a.get_epsilon(d); ts.append(time.perf_counter() - t0)
                    return out, min(ts)
                r = best(lambda: rdp.RdpAccountant()); p = best(lambda: pld.PLDAccountant())
                print(json.dumps({"version": metadata.version("dp-accounting"), "rdp": r, "pld": p}))
                """
            // Output and warnings are captured together; the result is the one JSON line.
            let completion = try Subprocess.run(python, ["-c", script], timeout: .seconds(3600))
            let line = completion.output.split(separator: "\n").last { $0.hasPrefix("{") }
            if completion.status == 0, let line,
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let r = object["rdp"] as? [Double], let p = object["pld"] as? [Double]
            {
                reference = [Row(accountant: "rdp", epsilon: r[0], seconds: r[1]), Row(accountant: "pld", epsilon: p[0], seconds: p[1])]
                note =
                    "dp-accounting \(object["version"] ?? "?"), default RdpAccountant orders and PLDAccountant(value_discretization_interval=1e-4), best of 3"
            } else {
                note = "dp_accounting run failed (exit \(completion.status)): \(completion.output.suffix(500))"
            }
        }
        var speedup: [String: Double] = [:], ratio: [String: Double] = [:]
        for (mine, theirs) in zip(ours, reference ?? []) {
            speedup[mine.accountant] = theirs.seconds / mine.seconds
            ratio[mine.accountant] = mine.epsilon / theirs.epsilon
        }
        try Measure.printJSON(
            Report(
                noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps, delta: delta,
                tally: ours, dpAccounting: reference, dpAccountingNote: note, speedup: speedup, epsilonRatio: ratio))
    }
}
