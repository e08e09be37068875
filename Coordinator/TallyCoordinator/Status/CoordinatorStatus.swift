import Foundation
import Metrics
import TallyCore
import TallyWire

/// The coordinator's live state as `/api/status` returns it and the status page shows it: one
/// snapshot taken from the engine, the open sessions and the database at request time.
public struct CoordinatorStatus: Sendable, Codable, Hashable {
    public struct Federation: Sendable, Codable, Hashable {
        public let dataDirectory: String
        public let configuredRounds: Int
        public let releasedRounds: Int
        public let paused: Bool
        public let minParticipants: Int
        public let maxCohort: Int
    }
    public struct Privacy: Sendable, Codable, Hashable {
        public let unit: String
        public let targetEpsilon: Double?
        public let delta: Double
        public let noiseMultiplier: Double
        public let clipNorm: Double
        /// The coordinator ledger's ε (RDP bound) after its last entry.
        public let epsilonSpent: Double
    }
    public struct Participants: Sendable, Codable, Hashable {
        public let connected: Int
        public let eligible: Int
        public let sessions: [ParticipantSessions.Snapshot]
        public let banned: [CoordinatorStore.Ban]
    }
    public struct Round: Sendable, Codable, Hashable {
        public let id: Int64
        public let outcome: String
        public let stage: String
        public let cohort: Int
        public let contributors: Int
        public let dropped: Int
        public let version: Int64?
        public let seconds: Double?
        public let reason: String?
        public let startedAt: Double
        /// The ledger's ε after this round's entry (nil: the round was not charged).
        public let epsilon: Double?
    }
    public struct Version: Sendable, Codable, Hashable {
        public let version: Int64
        public let status: String
        public let parent: Int64?
        public let round: Int64?
        public let modelHash: String
        public let createdAt: Double
        /// On the coordinator's own evaluation set.
        public let testAccuracy: Double?
        /// The federation's evaluation of this version on the sites' held-out records (noisy).
        public let federatedAccuracy: Double?
        public let federatedLoss: Double?
        public let gateScore: Double?
        public let lineage: ModelManifest.Lineage?
    }

    public let federation: Federation
    public let privacy: Privacy
    public let live: RoundEngine.Live?
    public let participants: Participants
    /// The most recent rounds and versions, newest first.
    public let rounds: [Round]
    public let versions: [Version]
    public let publishedVersion: Int64?

    /// How many rounds and versions a snapshot carries.
    static let historyLimit = 200

    static func capture(
        configuration c: CoordinatorConfiguration, engine: RoundEngine, sessions: ParticipantSessions, store: CoordinatorStore
    ) async throws(TallyError) -> CoordinatorStatus {
        let history = await engine.epsilonHistory
        let epsilonByRound = Dictionary(history.map { ($0.round, $0.epsilon) }, uniquingKeysWith: { _, last in last })
        let (live, paused, released, z) = await (engine.liveStatus, engine.paused, engine.releasedRounds, engine.noiseMultiplier)
        let names = Dictionary(c.participantNames.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let snapshot = await sessions.snapshot().map { session in
            var named = session
            named.name = names[session.id]
            return named
        }
        let rounds = try store.rounds().suffix(historyLimit).reversed().map { r in
            Round(
                id: r.id, outcome: r.outcome.rawValue, stage: r.stage.rawValue, cohort: r.cohort, contributors: r.contributors,
                dropped: r.dropped, version: r.version, seconds: r.seconds, reason: r.reason, startedAt: r.startedAt,
                epsilon: epsilonByRound[r.id])
        }
        let versions = try store.versions().suffix(historyLimit).reversed().map { v in
            let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(v.manifest))
            let metrics = v.validationMetrics
            return Version(
                version: v.version, status: v.status.rawValue, parent: v.parent, round: v.roundID, modelHash: v.modelHash,
                createdAt: v.createdAt, testAccuracy: v.accuracy, federatedAccuracy: metrics?.accuracy,
                federatedLoss: metrics?.loss, gateScore: v.gateScore, lineage: manifest?.lineage)
        }
        return CoordinatorStatus(
            federation: Federation(
                dataDirectory: c.dataDirectory, configuredRounds: c.rounds, releasedRounds: released, paused: paused,
                minParticipants: c.minParticipants, maxCohort: c.maxCohort),
            privacy: Privacy(
                unit: c.privacy.unit.rawValue, targetEpsilon: c.privacy.noiseMultiplier == nil ? c.privacy.targetEpsilon : nil,
                delta: c.privacy.delta, noiseMultiplier: z, clipNorm: c.clipNorm, epsilonSpent: history.last?.epsilon ?? 0),
            live: live,
            participants: Participants(
                connected: snapshot.count, eligible: snapshot.filter { $0.state == "ready" }.count, sessions: snapshot,
                banned: try store.bans()),
            rounds: Array(rounds), versions: Array(versions), publishedVersion: try store.publishedVersion()?.version)
    }

    /// Sets the gauges `/metrics` reports from this snapshot (counters count events as they
    /// happen; these are states).
    func recordGauges() {
        let states = ["ready", "before-hello", "without-budget", "unresponsive", "closing"]
        for state in states {
            Gauge(label: "tally_participants", dimensions: [("state", state)])
                .record(participants.sessions.filter { $0.state == state }.count)
        }
        Gauge(label: "tally_participants_connected").record(participants.connected)
        Gauge(label: "tally_participants_eligible").record(participants.eligible)
        Gauge(label: "tally_participants_banned").record(participants.banned.count)
        Gauge(label: "tally_epsilon_spent").record(privacy.epsilonSpent)
        Gauge(label: "tally_delta").record(privacy.delta)
        Gauge(label: "tally_epsilon_target").record(privacy.targetEpsilon ?? .nan)
        Gauge(label: "tally_noise_multiplier").record(privacy.noiseMultiplier)
        Gauge(label: "tally_rounds_configured").record(federation.configuredRounds)
        Gauge(label: "tally_scheduling_paused").record(federation.paused ? 1 : 0)
        Gauge(label: "tally_live_round").record(live.map { Double($0.round) } ?? 0)
        Gauge(label: "tally_published_version").record(publishedVersion.map(Double.init) ?? -1)
        Gauge(label: "tally_latest_version").record(versions.first.map { Double($0.version) } ?? -1)
        let judged = versions.first { $0.federatedAccuracy != nil }
        Gauge(label: "tally_validation_accuracy").record(judged?.federatedAccuracy ?? .nan)
        Gauge(label: "tally_validation_loss").record(judged?.federatedLoss ?? .nan)
        Gauge(label: "tally_test_accuracy").record(versions.first { $0.testAccuracy != nil }?.testAccuracy ?? .nan)
    }
}
