import ArgumentParser
import Foundation
import TallyCore
import TallyLedger

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// `--accountant` of `report`: which of the report's accountants to show.
enum ReportAccountant: String, ExpressibleByArgument, CaseIterable {
    case rdp, pld, both

    var accountants: PrivacyReport.Accountants {
        switch self {
        case .rdp: .rdp
        case .pld: .pld
        case .both: .both
        }
    }
}

/// `tally-audit report LEDGER`: ε per participant and for the federation, from a verified ledger.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "ε per participant and for the federation from a privacy ledger (verified first).",
        discussion: """
            ε (RDP) is the proven bound for the distributed discrete Gaussian (Kairouz–Liu–Steinke 2021) \
            and the one budgets are enforced with; ε (PLD) is a tight estimate, shown only when the sum of \
            shares is provably close to a single discrete Gaussian. The federation row composes every round: \
            the worst case, a participant that took part in all of them. Neighbouring datasets: an \
            organization's update in a round replaced by zero while its noise share stays, or, for a ledger \
            of a record-level federation, one record added or removed (Poisson-sampled with each round's q). \
            δ is the total; \
            rounds recorded before noise stopped being clamped are charged δ_mech(ε) + (1 + e^ε)·Σδ_clamp ≤ δ.

            --accountant rdp skips the PLD estimate, pld shows only the estimate next to the budget (which \
            is still checked with RDP), both (the default) shows both. When the PLD cannot be computed (its \
            grid outgrows its limit after a low-noise round, say) the report still gives the RDP bound and \
            says why the PLD is missing; --pld-interval sets a coarser grid. The ledger is verified as by \
            `tally-audit verify`, with the same --ca and --head.

            Exit status: 0 reported, 1 ledger altered (see --allow-altered), 2 cannot read or account.
            """)

    @OptionGroup var options: LedgerOptions
    @Option(help: "Accountant: rdp (the enforced bound only), pld (the estimate only) or both.")
    var accountant: ReportAccountant = .both
    @Option(help: "PLD grid spacing for the rows (default 1e-4; coarser is cheaper, more pessimistic, and reaches lower noise).")
    var pldInterval: Double = PrivacyReport.defaultPLDInterval
    @Option(help: "Total δ (default: the ledger's stored budget δ, else 1e-5).") var delta: Double?
    @Option(help: "Budget ε to compare with (default: the ledger's stored budget, if any).") var budgetEpsilon: Double?
    @Option(help: "Output: table, json or csv.") var format: ReportFormat = .table
    @Option(help: "Also write an SVG plot of cumulative ε to this file.") var plot: String?
    @Flag(help: "Report on a ledger that fails verification (figures come from untrustworthy records).") var allowAltered = false

    func run() throws {
        let outcome: AuditOutcome
        do {
            outcome = try AuditOutcome(options)
        } catch {
            printError("tally-audit report: \(error)")
            throw ExitCode(2)
        }
        if !outcome.isIntact {
            printError(outcome.summary().joined(separator: "\n"))
            guard allowAltered else {
                printError("tally-audit report: refusing to report on an altered ledger (pass --allow-altered to report anyway)")
                throw ExitCode(1)
            }
            printError("WARNING: the ledger is altered; the figures below come from records that failed verification")
        }
        let stored = outcome.ledger.budget
        let delta = self.delta ?? stored?.delta ?? 1e-5
        let budget: PrivacyBudget? = self.budgetEpsilon.map { PrivacyBudget(epsilon: $0, delta: stored?.delta ?? delta) } ?? stored
        let report: PrivacyReport
        var skipped = 0
        do {
            var entries: [LedgerEntry] = []
            for record in try outcome.ledger.records() {
                let entry: LedgerEntry
                do { entry = try record.entry() } catch {
                    guard allowAltered else { throw error }
                    skipped += 1
                    continue
                }
                // An entry that cannot be accounted for (absurd parameters) is named, not computed with.
                do { try entry.validate() } catch {
                    throw TallyError(error.code, "record \(record.sequence): \(error.message)")
                }
                entries.append(entry)
            }
            report = try PrivacyReport(
                entries: entries, delta: delta, budget: budget, accountants: accountant.accountants, pldInterval: pldInterval)
        } catch {
            printError("tally-audit report: \(error)")
            throw ExitCode(2)
        }
        if skipped > 0 { printError("WARNING: \(skipped) records are not entries and were left out") }

        switch format {
        case .table: print(Self.table(report, ledger: outcome.ledger, records: outcome.verification.records, intact: outcome.isIntact))
        case .csv: print(Self.csv(report), terminator: "")
        case .json:
            let document = ReportDocument(
                ledger: outcome.ledger.path, role: "\(outcome.ledger.role)", records: outcome.verification.records,
                intact: outcome.isIntact, headHash: outcome.verification.headHash.map { Hex.encode($0) },
                neighbouringRelation: report.neighbouringRelation, report: report)
            do {
                print(String(decoding: try PrivacyReport.encodeJSON(document), as: UTF8.self))
            } catch {
                printError("tally-audit report: \(error)")
                throw ExitCode(2)
            }
        }
        if let plot {
            let title = "Cumulative ε — \(outcome.ledger.role.noun)'s ledger"
            do {
                try Data(EpsilonPlot(report: report, title: title).svg().utf8).write(to: URL(fileURLWithPath: plot), options: .atomic)
            } catch {
                printError("tally-audit report: cannot write the plot to \(plot): \(error.localizedDescription)")
                throw ExitCode(2)
            }
            if format == .table { print("plot: \(plot)") }
        }
    }

    /// ε with 4 decimals, +∞ as "inf", absent as "—".
    static func number(_ value: Double?, table: Bool = true) -> String {
        guard let value else { return table ? "—" : "" }
        if value == .infinity { return "inf" }
        if value == -.infinity { return "-inf" }
        return String(format: "%.4f", value)
    }

    static func small(_ value: Double) -> String { String(format: "%.3g", value) }

    static func who(_ participant: UInt32?) -> String {
        participant.map { "participant \($0)" } ?? "federation (worst case: every round)"
    }

    static func table(_ report: PrivacyReport, ledger: PrivacyLedger, records: Int, intact: Bool) -> String {
        var out = [
            "privacy report: \(ledger.path) (\(ledger.role.noun)'s ledger, \(records) records, \(intact ? "verified intact" : "ALTERED"))"
        ]
        guard !report.rows.isEmpty else { return (out + ["no rounds recorded"]).joined(separator: "\n") }
        out.append("neighbouring relation: \(report.neighbouringRelation)")
        out.append("privacy unit: \(report.privacyUnits.joined(separator: " and "))")
        let showRDP = report.accountants.showsRDP, showPLD = report.accountants.includesPLD
        var header = [""]
        header += ["rounds"]
        if showRDP { header += ["ε (RDP)"] }
        if showPLD { header += ["ε (PLD)"] }
        header += ["δ", "Σδ_clamp", "budget ε", showRDP ? "left" : "left (RDP)"]
        let rows = report.rows.map { row in
            var cells = [who(row.participant), "\(row.rounds)"]
            if showRDP { cells.append(number(row.epsilonRDP)) }
            if showPLD { cells.append(number(row.epsilonPLD)) }
            return cells + [small(row.delta), small(row.deltaClamp), number(row.budgetEpsilon), number(row.budgetLeft)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        out.append(line(header))
        out += rows.map(line)
        if showRDP {
            out.append("ε (RDP): proven bound (Kairouz–Liu–Steinke 2021), the one budgets are enforced with.")
        } else {
            out.append("budgets are enforced with the RDP bound (--accountant rdp or both shows it): 'left' is budget ε − ε (RDP).")
        }
        if showPLD {
            out.append(
                "ε (PLD): tight estimate (Gaussian PLD at the effective noise multiplier, interval \(report.pldInterval)), reported, not enforced."
            )
            // One line per reason, naming the rows it applies to.
            var reasons: [String] = [], whom: [String: [String]] = [:]
            for row in report.rows {
                guard let reason = row.pldUnavailable else { continue }
                if whom[reason] == nil { reasons.append(reason) }
                whom[reason, default: []].append(row.participant.map { "participant \($0)" } ?? "the federation")
            }
            for reason in reasons {
                let names = whom[reason]!
                let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
                out.append("ε (PLD) — for \(shown): \(reason).")
            }
        }
        if report.rows.contains(where: { $0.budgetLeft.map { $0 < 0 } ?? false }) {
            out.append("OVER BUDGET: a negative 'left' means that participant's ε exceeds the budget.")
        }
        return out.joined(separator: "\n")
    }

    /// A CSV field, quoted when it holds a comma, quote or newline.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func csv(_ report: PrivacyReport) -> String {
        var out = "participant,rounds,epsilon_rdp,epsilon_pld,delta,delta_clamp,budget_epsilon,budget_left,pld_unavailable\n"
        for row in report.rows {
            let cells = [
                row.participant.map { "\($0)" } ?? "federation", "\(row.rounds)", number(row.epsilonRDP, table: false),
                number(row.epsilonPLD, table: false), "\(row.delta)", "\(row.deltaClamp)",
                number(row.budgetEpsilon, table: false), number(row.budgetLeft, table: false),
                csvField(row.pldUnavailable ?? ""),
            ]
            out += cells.joined(separator: ",") + "\n"
        }
        return out
    }
}
