import Foundation
import TallyStatus

/// The coordinator's status page: headline numbers, plots of accuracy, loss and ε over rounds,
/// and tables of participants, rounds and versions. Elements carry ids (`card-round`,
/// `participants`, `rounds`, `versions`, `plot-epsilon`, …) that docs/operations.md lists.
enum CoordinatorStatusPage {
    static func html(_ s: CoordinatorStatus) -> String {
        func date(_ seconds: Double) -> String {
            Date(timeIntervalSince1970: seconds).formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
        }
        let live = s.live.map { "round \($0.round)" } ?? (s.federation.paused ? "paused" : "idle")
        let rounds =
            s.federation.configuredRounds == 0
            ? "\(s.federation.releasedRounds)" : "\(s.federation.releasedRounds) / \(s.federation.configuredRounds)"
        var body = "<h1>Tally coordinator</h1>"
        body +=
            "<p class=\"muted\">\(StatusPage.escape(s.federation.dataDirectory)) · refreshes every 2 s · <a href=\"/api/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>"
        body += StatusPage.cards([
            ("round", "live round", live),
            ("stage", "stage", s.live.map { "\($0.stage) (\($0.outstanding) of \($0.cohort) to answer)" } ?? "-"),
            ("released", "rounds released", rounds),
            ("connected", "participants connected", "\(s.participants.connected)"),
            ("eligible", "eligible for a round", "\(s.participants.eligible)"),
            (
                "epsilon", "ε spent (δ = \(s.privacy.delta))",
                StatusPage.number(s.privacy.epsilonSpent) + (s.privacy.targetEpsilon.map { " / \($0)" } ?? "")
            ),
            ("published", "published version", s.publishedVersion.map { "v\($0)" } ?? "-"),
            ("accuracy", "test accuracy (latest)", StatusPage.number(s.versions.first { $0.testAccuracy != nil }?.testAccuracy)),
        ])
        let chronological = Array(s.versions.reversed())
        let charged = s.rounds.reversed().compactMap { r in r.epsilon.map { (x: Double(r.id), y: $0) } }
        body += "<h2>Progress</h2><div class=\"plots\">"
        body += StatusPage.plot(
            id: "plot-accuracy", title: "accuracy by version",
            series: [
                ("test (coordinator)", "#0969da", chronological.compactMap { v in v.testAccuracy.map { (Double(v.version), $0) } }),
                (
                    "federated (sites, noisy)", "#bf8700",
                    chronological.compactMap { v in v.federatedAccuracy.map { (Double(v.version), $0) } }
                ),
            ])
        body += StatusPage.plot(
            id: "plot-loss", title: "federated loss by version",
            series: [("loss", "#cf222e", chronological.compactMap { v in v.federatedLoss.map { (Double(v.version), $0) } })])
        body += StatusPage.plot(
            id: "plot-epsilon", title: "ε spent by round (coordinator's ledger)", series: [("ε", "#8250df", charged)])
        body += "</div>"
        body += "<h2>Participants</h2>"
        body += StatusPage.table(
            id: "participants", header: ["organization", "participant", "state", "ε remaining (at hello)", "connected since"],
            rows: s.participants.sessions.map {
                [
                    $0.name.map { name in "\(name)" } ?? "-", "\($0.id)", $0.state, StatusPage.number($0.epsilonRemaining),
                    date($0.connectedAt),
                ]
            })
        if !s.participants.banned.isEmpty {
            body += "<h2>Banned</h2>"
            body += StatusPage.table(
                id: "banned", header: ["participant", "by", "reason", "since"],
                rows: s.participants.banned.map { ["\($0.participant)", $0.by, $0.reason, date($0.at)] })
        }
        body += "<h2>Rounds</h2>"
        body += StatusPage.table(
            id: "rounds", header: ["round", "outcome", "stage", "cohort", "counted", "dropped", "version", "seconds", "ε after", "reason"],
            rows: s.rounds.prefix(30).map {
                [
                    "\($0.id)", $0.outcome, $0.stage, "\($0.cohort)", "\($0.contributors)", "\($0.dropped)",
                    $0.version.map { "v\($0)" } ?? "-",
                    StatusPage.number($0.seconds, 2), StatusPage.number($0.epsilon), $0.reason ?? "",
                ]
            })
        body += "<h2>Versions</h2>"
        body += StatusPage.table(
            id: "versions",
            header: ["version", "status", "parent", "round", "test accuracy", "federated accuracy", "federated loss", "ε", "z", "unit"],
            rows: s.versions.prefix(30).map {
                [
                    "v\($0.version)", $0.status, $0.parent.map { "v\($0)" } ?? "-", $0.round.map { "\($0)" } ?? "-",
                    StatusPage.number($0.testAccuracy),
                    StatusPage.number($0.federatedAccuracy), StatusPage.number($0.federatedLoss),
                    StatusPage.number($0.lineage?.epsilonSpent),
                    StatusPage.number($0.lineage?.noiseMultiplier),
                    $0.lineage?.privacyUnit ?? "-",
                ]
            })
        return StatusPage.document(title: "Tally coordinator: \(live)", refreshSeconds: 2, body: body)
    }
}
