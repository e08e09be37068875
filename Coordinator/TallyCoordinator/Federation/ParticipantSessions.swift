import Foundation
import Logging
import TallyCore
import TallySecAgg
import TallyWire

/// The participants connected right now: one outbound queue per open Session stream, the
/// certificate each presented, and what each said in its Hello.
public actor ParticipantSessions {
    struct Session {
        let generation: UInt64
        let certificatePEM: String
        let signingKey: SigningPublicKey
        let outbound: AsyncStream<Tally_V1_CoordinatorMessage>.Continuation
        var hello: Tally_V1_Hello?
        /// Declined a round for lack of privacy budget; not scheduled again on this stream.
        var budgetExhausted = false
        /// Let a stage deadline pass; not scheduled again until it is heard from.
        var unresponsive = false
        /// Why its stream is being closed: its certificate no longer admits it (revoked,
        /// expired), or an operator disconnected or banned it.
        var refused: Closure?
        let connectedAt = Date().timeIntervalSince1970
    }

    /// Why the coordinator closed a stream, and whether retrying can help (a disconnect) or not
    /// (revoked, banned).
    public struct Closure: Sendable, Hashable {
        public let reason: String
        public let permanent: Bool
    }

    private var sessions: [ParticipantID: Session] = [:]
    private var nextGeneration: UInt64 = 0
    private var disconnectHandler: (@Sendable (ParticipantID) async -> Void)?

    public init() {}

    func onDisconnect(_ handler: @escaping @Sendable (ParticipantID) async -> Void) {
        disconnectHandler = handler
    }

    /// Registers a new stream for `id`, replacing any older one: its queue is finished, upon which
    /// `FederationService` ends that stream.
    func register(
        _ id: ParticipantID, certificatePEM: String, signingKey: SigningPublicKey,
        outbound: AsyncStream<Tally_V1_CoordinatorMessage>.Continuation
    ) -> UInt64 {
        nextGeneration += 1
        sessions[id]?.outbound.finish()
        sessions[id] = Session(generation: nextGeneration, certificatePEM: certificatePEM, signingKey: signingKey, outbound: outbound)
        return nextGeneration
    }

    /// Whether `generation` is still `id`'s registered stream (not replaced by a newer one).
    func isCurrent(_ id: ParticipantID, generation: UInt64) -> Bool {
        sessions[id]?.generation == generation
    }

    func unregister(_ id: ParticipantID, generation: UInt64) async {
        guard sessions[id]?.generation == generation else { return }
        sessions[id] = nil
        await disconnectHandler?(id)
    }

    func hello(_ id: ParticipantID, _ hello: Tally_V1_Hello) {
        sessions[id]?.hello = hello
    }

    /// Connected participants that said hello (and so are ready for work) and still have privacy
    /// budget, sorted.
    public func eligible() -> [ParticipantID] {
        sessions.filter { Self.state(of: $0.value) == Self.ready }.keys.sorted()
    }

    /// The state a session is in, as the status API names it; only `ready` is scheduled.
    private static func state(of session: Session) -> String {
        if session.refused != nil { return "closing" }
        guard let hello = session.hello else { return "before-hello" }
        if session.unresponsive { return "unresponsive" }
        if session.budgetExhausted || hello.epsilonRemaining <= 0 { return "without-budget" }
        return ready
    }
    private static let ready = "ready"

    /// Leaves `ids` out of cohorts until they are heard from, and asks each to answer; returns
    /// those that were connected.
    @discardableResult
    func markUnresponsive(_ ids: [ParticipantID]) -> [ParticipantID] {
        var marked: [ParticipantID] = []
        for id in ids where sessions[id] != nil {
            sessions[id]!.unresponsive = true
            sessions[id]!.outbound.yield(.with { $0.ping = .with { p in p.nonce = UInt64.random(in: 1...UInt64.max) } })
            marked.append(id)
        }
        return marked
    }

    /// Checks every open session's certificate against `trust` as it is now (the revocation list
    /// re-read): a session whose certificate no longer admits it is closed at once and the reason
    /// kept for its stream's end. Returns those closed, with why.
    func closeRefused(by trust: FederationTrust) async -> [(ParticipantID, String)] {
        var closed: [(ParticipantID, String)] = []
        for (id, session) in sessions where session.refused == nil {
            do {
                _ = try await trust.verify(pem: session.certificatePEM)
            } catch {
                guard sessions[id]?.generation == session.generation else { continue }
                sessions[id]!.refused = Closure(reason: error.message, permanent: true)
                sessions[id]!.outbound.finish()
                closed.append((id, error.message))
            }
        }
        return closed
    }

    /// Why `id`'s stream `generation` was closed by ``closeRefused(by:)``, if it was.
    func refusal(_ id: ParticipantID, generation: UInt64) -> Closure? {
        guard let session = sessions[id], session.generation == generation else { return nil }
        return session.refused
    }

    /// Closes `id`'s open stream now (an operator's disconnect or ban); returns whether it was
    /// connected.
    @discardableResult
    func close(_ id: ParticipantID, reason: String, permanent: Bool) -> Bool {
        guard sessions[id] != nil, sessions[id]!.refused == nil else { return false }
        sessions[id]!.refused = Closure(reason: reason, permanent: permanent)
        sessions[id]!.outbound.finish()
        return true
    }

    /// One connected participant as the status API shows it.
    public struct Snapshot: Sendable, Codable, Hashable {
        public let id: UInt32
        /// The organization's name, when the configuration gives one (`participantNames`).
        public var name: String?
        /// ready, before-hello, without-budget, unresponsive or closing.
        public let state: String
        public let epsilonRemaining: Double?
        public let connectedAt: Double
    }

    /// Every connected participant and its state, sorted by id.
    public func snapshot() -> [Snapshot] {
        sessions.sorted { $0.key < $1.key }.map { id, session in
            Snapshot(
                id: id.rawValue, state: Self.state(of: session), epsilonRemaining: session.hello.map(\.epsilonRemaining),
                connectedAt: session.connectedAt)
        }
    }

    /// `id` sent a message: it is alive. Returns whether it had been left out as unresponsive.
    @discardableResult
    func heardFrom(_ id: ParticipantID) -> Bool {
        guard sessions[id]?.unresponsive == true else { return false }
        sessions[id]!.unresponsive = false
        return true
    }

    func markBudgetExhausted(_ id: ParticipantID) {
        sessions[id]?.budgetExhausted = true
    }

    public var connectedCount: Int { sessions.count }

    /// Every connected participant, sorted.
    func connected() -> [ParticipantID] { sessions.keys.sorted() }

    /// Why participants are or are not eligible: connected, still to say hello, and out of
    /// privacy budget (by their Hello or a decline).
    public func status() -> (connected: Int, beforeHello: Int, withoutBudget: Int, unresponsive: Int) {
        let ready = sessions.values.filter { $0.hello != nil }
        return (
            sessions.count, sessions.count - ready.count,
            ready.filter { $0.budgetExhausted || $0.hello!.epsilonRemaining <= 0 }.count,
            sessions.values.filter(\.unresponsive).count
        )
    }

    func certificates(for ids: [ParticipantID]) -> [ParticipantID: (pem: String, key: SigningPublicKey)] {
        var out: [ParticipantID: (pem: String, key: SigningPublicKey)] = [:]
        for id in ids { if let s = sessions[id] { out[id] = (s.certificatePEM, s.signingKey) } }
        return out
    }

    @discardableResult
    func send(_ message: Tally_V1_CoordinatorMessage, to id: ParticipantID) -> Bool {
        guard let session = sessions[id] else { return false }
        if case .terminated = session.outbound.yield(message) { return false }
        return true
    }

    func send(_ messages: [Tally_V1_CoordinatorMessage], to id: ParticipantID) {
        for m in messages { send(m, to: id) }
    }
}
