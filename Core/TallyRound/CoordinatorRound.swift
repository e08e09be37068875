public import TallyCore
public import TallySecAgg

/// One round as the coordinator runs it, without I/O: events in (a participant's message, a
/// member leaving, a stage deadline, the driver's release or failure), actions out (send, enter a
/// stage, aggregate, abort). The driver persists, sends, arms deadlines and writes the ledger;
/// every decision — when a stage closes, who is still awaited, what the sum was and what it costs —
/// is made here, and tested in process.
///
/// A stage closes as soon as every member it waits for has answered or left, or at its
/// deadline; then the next stage's messages go out. Once the sum is unmasked, whatever the
/// coordinator learned is charged, whether the round goes on to publish or aborts.
public struct CoordinatorRound: Sendable {
    public enum Action: Sendable {
        /// Send one protocol message to each recipient, in order.
        case send(MessageKind, payload: [UInt8], to: [ParticipantID])
        /// A collecting stage began: persist it and arm its deadline.
        case enter(RoundStage)
        /// A message from this member was refused; the round goes on without it.
        case refused(ParticipantID, TallyError)
        /// The sum is known. The driver decodes it, appends the ledger entry for `charge`,
        /// publishes, and reports ``CoordinatorRound/charged()`` and ``CoordinatorRound/released()``
        /// or ``CoordinatorRound/fail(_:)``.
        case aggregated(Aggregate)
        /// The round ends and nothing is published. If `charge` is set the sum was seen: the driver
        /// appends its ledger entry (against the base model) before it reports the abort.
        case abort(TallyError, charge: RoundAgreement.Charge?)
    }

    /// The unmasked sum and what it costs.
    public struct Aggregate: Sendable {
        public let sum: PackedVector
        /// Whose inputs it holds, sorted.
        public let contributors: [ParticipantID]
        /// The rotation's seed: the session id, fixed only after every key was committed (the plan
        /// digest in a round without key exchange).
        public let rotationSeed: [UInt8]
        public let charge: RoundAgreement.Charge
    }

    public let agreement: RoundAgreement
    public private(set) var stage: RoundStage = .keys
    /// Secure aggregation, or plain summation in a benchmark round without masking.
    private var summation: any CoordinatorSummation
    /// Declined or disconnected: not waited for.
    public private(set) var gone: Set<ParticipantID> = []
    /// Set once the sum is known, until the ledger has it.
    private var uncharged: RoundAgreement.Charge?

    public init(agreement: RoundAgreement, identities: some IdentityVerifier) throws(TallyError) {
        self.agreement = agreement
        self.summation =
            agreement.parameters.unmasked
            ? PlainSummation(agreement: agreement) : try SecureSummation(agreement: agreement, identities: identities)
    }

    public var roundID: UInt64 { agreement.parameters.roundID }
    public var cohort: [ParticipantID] { agreement.parameters.cohort }

    /// Members the current stage still waits for.
    public var outstanding: [ParticipantID] {
        guard stage.collects else { return [] }
        return summation.awaiting.filter { !gone.contains($0) }
    }

    /// Opens the first stage (key advertisement; masked inputs directly when there is no masking).
    public mutating func start() -> [Action] {
        stage = summation.firstStage
        return [.enter(stage)] + closeIfComplete()
    }

    /// A complete protocol message from the authenticated member `sender`.
    public mutating func receive(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) -> [Action] {
        guard stage.collects, cohort.contains(sender) else { return [] }
        do {
            try summation.receive(kind, payload: payload, from: sender)
        } catch {
            return [.refused(sender, error)]
        }
        return closeIfComplete()
    }

    /// The member declined the round or disconnected: no stage waits for it any more.
    public mutating func left(_ id: ParticipantID) -> [Action] {
        guard stage.collects, cohort.contains(id) else { return [] }
        gone.insert(id)
        return closeIfComplete()
    }

    /// The deadline armed when `stage` was entered has passed; stale deadlines are ignored.
    public mutating func deadlinePassed(_ stage: RoundStage) -> [Action] {
        guard stage == self.stage, stage.collects else { return [] }
        return close()
    }

    /// The ledger entry for the aggregate's charge is written and synced.
    public mutating func charged() { uncharged = nil }

    /// The new version is published.
    public mutating func released() { stage = .released }

    /// The driver could not finish (decoding, ledger, publication): abort, charging what was learned
    /// unless the ledger already has it.
    public mutating func fail(_ error: TallyError) -> [Action] {
        guard stage != .released, stage != .aborted else { return [] }
        return abort(error)
    }

    // MARK: Stages

    private mutating func closeIfComplete() -> [Action] {
        guard stage.collects, outstanding.isEmpty else { return [] }
        return close()
    }

    private mutating func close() -> [Action] {
        do {
            switch try summation.close(stage) {
            case .next(let next, let sends):
                return enter(next, sends)
            case .sum(let sum, let contributors, let rotationSeed):
                return aggregate(sum: sum, contributors: contributors, rotationSeed: rotationSeed)
            }
        } catch {
            return abort(error)
        }
    }

    private mutating func enter(_ next: RoundStage, _ sends: [Action]) -> [Action] {
        stage = next
        // Members that already left are not waited for: the stage may be complete at once.
        return [.enter(next)] + sends + closeIfComplete()
    }

    private mutating func aggregate(sum: PackedVector, contributors: [ParticipantID], rotationSeed: [UInt8]) -> [Action] {
        stage = .releasing
        let charge = agreement.coordinatorCharge(contributors: contributors)
        uncharged = charge
        return [
            .enter(.releasing), .aggregated(Aggregate(sum: sum, contributors: contributors, rotationSeed: rotationSeed, charge: charge)),
        ]
    }

    private mutating func abort(_ error: TallyError) -> [Action] {
        stage = .aborted
        summation.abort(error)
        let charge = uncharged
        uncharged = nil
        return [.abort(error, charge: charge)]
    }
}
