import Foundation
import Metrics
import Prometheus
import TallyCore
import TallyLedger

/// What this organization's daemon has done, for its own status page and `/metrics`: its session,
/// the rounds it was planned into and how each ended (joined, declined and why, released,
/// aborted), ε after each charge, and its last local evaluation. Kept in memory: the ledger is the
/// durable record; this is the live view.
public actor ParticipantActivity {
    public struct RoundEvent: Sendable, Codable, Hashable {
        public let round: UInt64
        /// planned, joined, declined, released or aborted.
        public var outcome: String
        public var reason: String?
        /// The organization's ε after this round's charge (nil: not charged).
        public var epsilonAfter: Double?
        public var at: Double
    }
    public struct Evaluation: Sendable, Codable, Hashable {
        public let round: UInt64
        public let heldOut: Int
        public let accuracy: Double
        public let loss: Double
        public let auc: Double?
    }

    public private(set) var connected = false
    public private(set) var rounds: [RoundEvent] = []
    public private(set) var evaluations: [Evaluation] = []
    let factory: PrometheusMetricsFactory
    static let historyLimit = 500

    public init(registry: PrometheusCollectorRegistry) {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func session(connected: Bool) {
        self.connected = connected
        Gauge(label: "tally_participant_connected", factory: factory).record(connected ? 1 : 0)
    }

    func planned(_ round: UInt64) {
        update(round, outcome: "planned")
        Counter(label: "tally_participant_rounds_planned_total", factory: factory).increment()
    }

    func joined(_ round: UInt64, epsilonAfter: Double?) {
        update(round, outcome: "joined", epsilonAfter: epsilonAfter)
    }

    func declined(_ round: UInt64, code: String, reason: String) {
        update(round, outcome: "declined", reason: reason)
        Counter(label: "tally_participant_declines_total", dimensions: [("code", code)], factory: factory).increment()
    }

    func ended(_ round: UInt64, released: Bool, reason: String?) {
        // A round this organization declined stays "declined" whatever became of it.
        guard rounds.last(where: { $0.round == round })?.outcome != "declined" else { return }
        update(round, outcome: released ? "released" : "aborted", reason: released ? nil : reason)
        Counter(label: "tally_participant_rounds_total", dimensions: [("outcome", released ? "released" : "aborted")], factory: factory)
            .increment()
    }

    func evaluated(_ evaluation: Evaluation) {
        evaluations.append(evaluation)
        if evaluations.count > Self.historyLimit { evaluations.removeFirst() }
        Gauge(label: "tally_participant_local_accuracy", factory: factory).record(evaluation.accuracy)
        Gauge(label: "tally_participant_local_loss", factory: factory).record(evaluation.loss)
    }

    /// Sets the budget gauges before a scrape.
    func recordBudget(spent: Double, budget: PrivacyBudget) {
        Gauge(label: "tally_participant_epsilon_spent", factory: factory).record(spent)
        Gauge(label: "tally_participant_epsilon_budget", factory: factory).record(budget.epsilon)
        Gauge(label: "tally_participant_delta", factory: factory).record(budget.delta)
    }

    private func update(_ round: UInt64, outcome: String, reason: String? = nil, epsilonAfter: Double? = nil) {
        let now = Date().timeIntervalSince1970
        if let i = rounds.lastIndex(where: { $0.round == round }) {
            rounds[i].outcome = outcome
            rounds[i].reason = reason ?? rounds[i].reason
            rounds[i].epsilonAfter = epsilonAfter ?? rounds[i].epsilonAfter
            rounds[i].at = now
        } else {
            rounds.append(RoundEvent(round: round, outcome: outcome, reason: reason, epsilonAfter: epsilonAfter, at: now))
            if rounds.count > Self.historyLimit { rounds.removeFirst() }
        }
    }
}
