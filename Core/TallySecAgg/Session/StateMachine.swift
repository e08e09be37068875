import TallyCore

/// A protocol state that can end in an abort, with a name for error messages.
protocol AbortableState: Sendable {
    static func aborted(_ reason: TallyError) -> Self
    var name: String { get }
    var abortReason: TallyError? { get }
}

/// What the coordinator's and the participant's secure-aggregation machines share: the error
/// for a message that comes in the wrong state, and stage transitions that abort the round on
/// any error from a message's content.
protocol SecAggStateMachine {
    associatedtype State: AbortableState
    var state: State { get set }
    var roundID: UInt64 { get }
    /// Who speaks in error messages: "coordinator", or the participant's id.
    var speaker: String { get }
}

extension SecAggStateMachine {
    func unexpected(_ what: String) -> TallyError {
        if let reason = state.abortReason {
            return TallyError(.roundAborted, "\(speaker): round \(roundID) was aborted (\(reason.code)); ignoring \(what)")
        }
        return TallyError(.unexpectedMessage, "\(speaker): round \(roundID): \(what) is not expected in state \(state.name)")
    }

    /// Runs a stage transition; any error aborts the round.
    mutating func transition<R>(_ body: () throws(TallyError) -> R) throws(TallyError) -> R {
        do {
            return try body()
        } catch {
            state = .aborted(error)
            throw error
        }
    }
}
