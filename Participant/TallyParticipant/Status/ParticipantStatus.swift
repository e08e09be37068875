import Foundation
import Hummingbird
import TallyCore
import TallyLedger
import TallyStatus

/// This organization's live status as its `/api/status` returns it and its page shows it.
public struct ParticipantStatus: Sendable, Codable, Hashable {
    public let participant: UInt32
    public let coordinator: String
    public let connected: Bool
    public let privacyUnit: String
    public let epsilonSpent: Double
    public let epsilonBudget: Double
    public let delta: Double
    /// Newest first.
    public let rounds: [ParticipantActivity.RoundEvent]
    public let evaluations: [ParticipantActivity.Evaluation]

    static func routes(
        participant: UInt32, configuration c: ParticipantConfiguration, budget: BudgetGuard, activity: ParticipantActivity
    ) -> (refresh: @Sendable () async -> Void, add: (Router<StatusRequestContext>) -> Void) {
        let snapshot = { @Sendable () async throws -> ParticipantStatus in
            let (connected, rounds, evaluations) = await (activity.connected, activity.rounds, activity.evaluations)
            return ParticipantStatus(
                participant: participant, coordinator: "\(c.coordinatorHost):\(c.coordinatorPort)", connected: connected,
                privacyUnit: c.privacyBudget.unit.rawValue, epsilonSpent: try budget.spent(), epsilonBudget: c.privacyBudget.epsilon,
                delta: c.privacyBudget.delta, rounds: rounds.reversed(), evaluations: evaluations.reversed())
        }
        let refresh = { @Sendable () async in
            if let spent = try? budget.spent() { await activity.recordBudget(spent: spent, budget: budget.budget) }
        }
        return (
            refresh,
            { router in
                router.get("/") { _, _ in StatusPage.response(html(try await snapshot())) }
                router.get("api/status") { _, _ in try StatusPage.json(try await snapshot()) }
            }
        )
    }

    static func html(_ s: ParticipantStatus) -> String {
        let declined = s.rounds.filter { $0.outcome == "declined" }.count
        let joined = s.rounds.filter { ["joined", "released", "aborted"].contains($0.outcome) && $0.epsilonAfter != nil }.count
        var body = "<h1>Tally participant \(s.participant)</h1>"
        body +=
            "<p class=\"muted\">coordinator \(StatusPage.escape(s.coordinator)) · refreshes every 2 s · <a href=\"/api/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>"
        body += StatusPage.cards([
            ("connection", "session", s.connected ? "connected" : "reconnecting"),
            (
                "epsilon", "ε spent of budget (\(s.privacyUnit), δ = \(s.delta))",
                "\(StatusPage.number(s.epsilonSpent)) / \(s.epsilonBudget)"
            ),
            ("joined", "rounds joined (this run)", "\(joined)"),
            ("declined", "rounds declined (this run)", "\(declined)"),
            ("accuracy", "local accuracy (last)", StatusPage.number(s.evaluations.first?.accuracy)),
        ])
        let chronological = Array(s.rounds.reversed())
        body += "<div class=\"plots\">"
        body += StatusPage.plot(
            id: "plot-epsilon", title: "ε spent by round (own ledger)",
            series: [
                ("ε", "#8250df", chronological.compactMap { r in r.epsilonAfter.map { (Double(r.round), $0) } }),
                (
                    "budget", "#cf222e",
                    chronological.isEmpty
                        ? []
                        : [(Double(chronological.first!.round), s.epsilonBudget), (Double(chronological.last!.round), s.epsilonBudget)]
                ),
            ])
        body += StatusPage.plot(
            id: "plot-accuracy", title: "local accuracy of each version (held-out records)",
            series: [("accuracy", "#0969da", s.evaluations.reversed().map { (Double($0.round), $0.accuracy) })])
        body += "</div><h2>Rounds</h2>"
        body += StatusPage.table(
            id: "rounds", header: ["round", "outcome", "ε after", "reason"],
            rows: s.rounds.prefix(50).map { ["\($0.round)", $0.outcome, StatusPage.number($0.epsilonAfter), $0.reason ?? ""] })
        body += "<h2>Local evaluation</h2>"
        body += StatusPage.table(
            id: "evaluations", header: ["round", "held-out records", "accuracy", "loss", "AUC"],
            rows: s.evaluations.prefix(20).map {
                ["\($0.round)", "\($0.heldOut)", StatusPage.number($0.accuracy), StatusPage.number($0.loss), StatusPage.number($0.auc)]
            })
        return StatusPage.document(title: "Tally participant \(s.participant)", refreshSeconds: 2, body: body)
    }
}
