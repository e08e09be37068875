import Foundation
import Hummingbird
import Logging
import TallyCore
import TallyStatus

/// The coordinator's status server routes: the page, the JSON API and the operator actions.
/// Every action names the operator its certificate names in the log (``StatusRequestContext``).
struct CoordinatorStatusRoutes: Sendable {
    let configuration: CoordinatorConfiguration
    let engine: RoundEngine
    let sessions: ParticipantSessions
    let store: CoordinatorStore
    let logger: Logger

    func snapshot() async throws -> CoordinatorStatus {
        try await CoordinatorStatus.capture(configuration: configuration, engine: engine, sessions: sessions, store: store)
    }

    func add(to router: Router<StatusRequestContext>) {
        router.get("/") { _, _ in StatusPage.response(CoordinatorStatusPage.html(try await snapshot())) }
        router.get("api/status") { _, _ in try StatusPage.json(try await snapshot()) }

        let participants = router.group("api/participants")
        participants.post(":id/disconnect") { request, context in
            let (id, by) = try participant(context)
            let closed = await sessions.close(ParticipantID(id), reason: "disconnected by operator \(by)", permanent: false)
            logger.notice(
                "operator disconnected a participant",
                metadata: ["operator": "\(by)", "participant": "\(id)", "was_connected": "\(closed)"])
            return try StatusPage.json(Outcome(action: "disconnect", participant: id, operator: by, effective: closed))
        }
        participants.post(":id/ban") { request, context in
            let (id, by) = try participant(context)
            // Printable text only (it is logged and shown on the page), at most 200 characters.
            let reason = String(
                (request.uri.queryParameters.get("reason") ?? "").filter {
                    !$0.isNewline && !($0.asciiValue.map { $0 < 32 || $0 == 127 } ?? false)
                }.prefix(200))
            try store.ban(id, by: by, reason: reason)
            let closed = await sessions.close(
                ParticipantID(id), reason: "banned from this federation by operator \(by)\(reason.isEmpty ? "" : ": \(reason)")",
                permanent: true)
            logger.notice(
                "operator banned a participant",
                metadata: ["operator": "\(by)", "participant": "\(id)", "reason": "\(reason)", "was_connected": "\(closed)"])
            return try StatusPage.json(Outcome(action: "ban", participant: id, operator: by, effective: true))
        }
        participants.post(":id/unban") { request, context in
            let (id, by) = try participant(context)
            let lifted = try store.unban(id)
            logger.notice("operator lifted a ban", metadata: ["operator": "\(by)", "participant": "\(id)", "was_banned": "\(lifted)"])
            return try StatusPage.json(Outcome(action: "unban", participant: id, operator: by, effective: lifted))
        }
        router.post("api/scheduling/pause") { _, context in
            let by = try context.requireOperator()
            await engine.setPaused(true, by: by)
            return try StatusPage.json(Outcome(action: "pause", participant: nil, operator: by, effective: true))
        }
        router.post("api/scheduling/resume") { _, context in
            let by = try context.requireOperator()
            await engine.setPaused(false, by: by)
            return try StatusPage.json(Outcome(action: "resume", participant: nil, operator: by, effective: true))
        }
        router.post("api/rounds/live/abort") { _, context in
            let by = try context.requireOperator()
            let round = await engine.abortLiveRound(by: by)
            return try StatusPage.json(Outcome(action: "abort", participant: nil, operator: by, effective: round != nil, round: round))
        }
    }

    /// The participant id in the path and the operator acting on it.
    private func participant(_ context: StatusRequestContext) throws -> (UInt32, String) {
        let by = try context.requireOperator()
        guard let text = context.parameters.get("id"), let id = UInt32(text), id > 0 else {
            throw HTTPError(.badRequest, message: "participant id must be a positive integer")
        }
        return (id, by)
    }

    /// What an operator action did.
    struct Outcome: Codable {
        let action: String
        let participant: UInt32?
        let `operator`: String
        /// Whether it changed anything (a disconnect of a participant that was not connected
        /// did not).
        let effective: Bool
        var round: Int64? = nil
    }
}
