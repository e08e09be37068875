import Metrics
import TallyCore
import TallyRound
import TallySecAgg
import TallyWire

/// The round in progress as the engine drives it: the I/O-free ``CoordinatorRound`` plus the
/// transport around it (chunk reassembly per member, the armed deadline, and the continuation
/// the engine awaits until the round aggregates or aborts).
struct LiveRound {
    enum Outcome: Sendable {
        case aggregated(CoordinatorRound.Aggregate)
        case aborted(TallyError, charge: RoundAgreement.Charge?)
    }

    var machine: CoordinatorRound
    var assemblers: [ParticipantID: ChunkAssembler] = [:]
    var deadline: Task<Void, Never>?
    /// The stage last entered, and when (for the stage-duration metric).
    var stage: RoundStage?
    var stageStarted = ContinuousClock.now
    var outcome: CheckedContinuation<Outcome, Never>?
    var bytesReceived = 0

    init(machine: CoordinatorRound) { self.machine = machine }

    /// Largest reassembled payload accepted from one member: its masked input plus slack for
    /// headers, or the share messages of the whole cohort.
    var maxPayloadBytes: Int {
        machine.agreement.layout.byteCount + 64 + machine.cohort.count * (AddressedCiphertext.ciphertextBytes + 16)
    }

    /// The `tally_stage_seconds{stage}` sample of the stage entered last, ending `now`.
    func recordStageTime(until now: ContinuousClock.Instant) {
        guard let stage else { return }
        Timer(label: "tally_stage_seconds", dimensions: [("stage", stage.rawValue)]).recordSeconds((now - stageStarted).seconds)
    }

    /// Hands the outcome to the awaiting engine, once.
    mutating func finish(_ result: Outcome) {
        deadline?.cancel()
        outcome?.resume(returning: result)
        outcome = nil
    }
}
