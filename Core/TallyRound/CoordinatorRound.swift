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
    private var secAgg: SecAggCoordinator
    /// Benchmark rounds without masking: inputs summed as they come.
    private var plainSum: PackedVector
    private var plainContributors: Set<ParticipantID> = []
    /// Declined or disconnected: not waited for.
    public private(set) var gone: Set<ParticipantID> = []
    /// Set once the sum is known, until the ledger has it.
    private var uncharged: RoundAgreement.Charge?

    public init(agreement: RoundAgreement, identities: some IdentityVerifier) throws(TallyError) {
        self.agreement = agreement
        self.secAgg = try SecAggCoordinator(configuration: agreement.secAgg, identities: identities)
        self.plainSum = PackedVector(zeros: agreement.layout)
    }

    public var roundID: UInt64 { agreement.parameters.roundID }
    public var cohort: [ParticipantID] { agreement.parameters.cohort }
    private var unmasked: Bool { agreement.parameters.unmasked }

    /// Members the current stage still waits for.
    public var outstanding: [ParticipantID] {
        guard stage.collects else { return [] }
        if unmasked { return cohort.filter { !plainContributors.contains($0) && !gone.contains($0) } }
        return secAgg.awaiting.filter { !gone.contains($0) }
    }

    /// Opens the first stage (key advertisement; masked inputs directly when there is no masking).
    public mutating func start() -> [Action] {
        stage = unmasked ? .maskedInputs : .keys
        return [.enter(stage)] + closeIfComplete()
    }

    /// A complete protocol message from the authenticated member `sender`.
    public mutating func receive(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) -> [Action] {
        guard stage.collects, cohort.contains(sender) else { return [] }
        do {
            try deliver(kind, payload: payload, from: sender)
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
            switch stage {
            case .keys:
                let directory = try secAgg.closeKeyAdvertisement()
                return enter(.shares, [.send(.keyDirectory, payload: directory.serialized(), to: directory.entries.map(\.sender))])
            case .shares:
                let deliveries = try secAgg.closeShareKeys()
                return enter(.maskedInputs, deliveries.map { .send(.shareDelivery, payload: $0.serialized(), to: [$0.recipient]) })
            case .maskedInputs where unmasked:
                let contributors = plainContributors.sorted()
                guard contributors.count >= agreement.parameters.threshold else {
                    throw TallyError(
                        .belowThreshold,
                        "round \(roundID): only \(contributors.count) inputs; threshold is \(agreement.parameters.threshold). Aborting; nothing is released"
                    )
                }
                return aggregate(sum: plainSum, contributors: contributors, rotationSeed: agreement.digest)
            case .maskedInputs:
                let requests = try secAgg.closeMaskedInput()
                return enter(.consistency, requests.map { .send(.consistencyRequest, payload: $0.serialized(), to: [$0.recipient]) })
            case .consistency:
                let request = try secAgg.closeConsistencyCheck()
                return enter(.unmasking, [.send(.unmaskRequest, payload: request.serialized(), to: request.signers)])
            case .unmasking:
                let result = try secAgg.finish()
                return aggregate(sum: result.sum, contributors: result.contributors, rotationSeed: result.session.bytes)
            case .releasing, .released, .aborted:
                return []
            }
        } catch let error as TallyError {
            return abort(error)
        } catch {
            return abort(TallyError(.invalidArgument, "\(error)"))
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
        secAgg.abort(error)
        let charge = uncharged
        uncharged = nil
        return [.abort(error, charge: charge)]
    }

    /// Hands a complete message to the secure aggregation. The sender inside the message must be
    /// the authenticated peer: nobody speaks for anyone else.
    private mutating func deliver(_ kind: MessageKind, payload: [UInt8], from sender: ParticipantID) throws(TallyError) {
        func requireSender(_ claimed: ParticipantID) throws(TallyError) {
            guard claimed == sender else {
                throw TallyError(.permissionDenied, "\(sender) sent a message claiming to be from \(claimed)")
            }
        }
        switch kind {
        case .keyAdvertisement:
            let m = try KeyAdvertisement(serialized: payload)
            try requireSender(m.sender)
            try secAgg.receive(m)
        case .encryptedShares:
            let m = try EncryptedShares(serialized: payload)
            try requireSender(m.sender)
            try secAgg.receive(m)
        case .maskedInput where unmasked:
            guard stage == .maskedInputs else { throw TallyError(.unexpectedMessage, "\(sender) sent an input in stage \(stage)") }
            let m = try MaskedInput(serialized: payload, layout: agreement.layout)
            try requireSender(m.sender)
            guard !plainContributors.contains(m.sender) else { throw TallyError(.duplicateMessage, "\(sender) sent two inputs") }
            try plainSum.add(m.vector)
            plainContributors.insert(m.sender)
        case .maskedInput:
            let m = try MaskedInput(serialized: payload, layout: agreement.layout)
            try requireSender(m.sender)
            try secAgg.receive(m)
        case .consistencySignature:
            let m = try ConsistencySignature(serialized: payload)
            try requireSender(m.sender)
            try secAgg.receive(m)
        case .unmaskResponse:
            let m = try UnmaskResponse(serialized: payload)
            try requireSender(m.sender)
            try secAgg.receive(m)
        case .keyDirectory, .shareDelivery, .consistencyRequest, .unmaskRequest:
            throw TallyError(.unexpectedMessage, "\(sender) sent a coordinator-only message (\(kind))")
        }
    }
}
