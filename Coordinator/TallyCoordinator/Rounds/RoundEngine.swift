import Foundation
import Logging
import Metrics
import ServiceLifecycle
import TallyCore
import TallyLedger
import TallyModel
import TallyRound
import TallySecAgg
import TallyWire

/// Schedules rounds and runs each one: plan, model broadcast, the secure-aggregation stages (with the consistency check)
/// with deadlines, decoding and FedAvg, a signed privacy-ledger entry, then publication to the
/// registry — or an abort that releases nothing. Runs as a `Service`; returns when the configured number of rounds is done.
public actor RoundEngine: Service {
    let configuration: CoordinatorConfiguration
    let store: CoordinatorStore
    let registry: ModelRegistry
    let sessions: ParticipantSessions
    let signingKey: SigningPrivateKey
    let certificatePEM: String
    let evaluation: Dataset?
    let ledger: PrivacyLedger
    let hooks: RoundHooks
    var logger: Logger
    /// What every plan takes from the configuration, with z resolved when the service starts.
    private var policy: RoundPolicy
    /// The latest published version and the server step with its moments as of it: what the next
    /// round starts from.
    private struct Head {
        var model: ModelState
        var version: CoordinatorStore.VersionRecord
        var optimizer: ServerOptimizer
        /// What the version's signed manifest asks the sites to evaluate it with: it sizes the
        /// round's vector on both sides.
        var evaluation: FederatedEvaluation? {
            (try? JSONDecoder().decode(ModelManifest.self, from: Data(version.manifest)))?.evaluation
        }
    }
    /// Messages to participants, in the order they were produced; one consumer sends them.
    private let outbox: AsyncStream<(messages: [Tally_V1_CoordinatorMessage], to: [ParticipantID])>.Continuation
    private let outgoing: AsyncStream<(messages: [Tally_V1_CoordinatorMessage], to: [ParticipantID])>

    private var live: LiveRound?
    /// The ledger's ε, kept up to date as rounds are charged (for each manifest's lineage).
    private var spent: RunningEpsilon
    /// The highest version number a ledger entry names. An entry written before a crash (or a
    /// full disk) stopped its publication names a version that was never published; new versions
    /// are numbered above it, so no number ever stands for two models.
    private var highestChargedVersion: Int64
    public private(set) var releasedRounds = 0

    public init(
        configuration: CoordinatorConfiguration, store: CoordinatorStore, registry: ModelRegistry,
        sessions: ParticipantSessions, signingKey: SigningPrivateKey, certificatePEM: String,
        evaluation: Dataset?, ledger: PrivacyLedger, hooks: RoundHooks = .none, logger: Logger
    ) throws(TallyError) {
        self.configuration = configuration
        self.store = store
        self.registry = registry
        self.sessions = sessions
        self.signingKey = signingKey
        self.certificatePEM = certificatePEM
        self.evaluation = evaluation
        self.ledger = ledger
        self.hooks = hooks
        self.logger = logger
        self.policy = try configuration.roundPolicy(noiseMultiplier: 0)
        let entries = try ledger.entries()
        self.spent = try RunningEpsilon(delta: configuration.privacy.delta)
        for entry in entries {
            try spent.add(entry)
            epsilonHistory.append(.init(round: Int64(entry.roundID), version: entry.modelVersion, epsilon: try spent.epsilon()))
        }
        self.highestChargedVersion = entries.compactMap(\.modelVersion).max() ?? 0
        (outgoing, outbox) = AsyncStream.makeStream()
    }

    // MARK: Events

    func receive(from id: ParticipantID, _ message: Tally_V1_ParticipantMessage) {
        guard let round = live, round.machine.cohort.contains(id) else { return }
        switch message.body {
        case .decline(let decline) where decline.roundID == round.machine.roundID:
            logger.info(
                "participant declined the round",
                metadata: ["participant": "\(id.rawValue)", "code": "\(decline.code)", "reason": "\(decline.reason)"])
            Counter(label: "tally_declines_total", dimensions: [("code", Self.declineCode(decline.code))]).increment()
            if decline.code == TallyError.Code.privacyBudgetExhausted.rawValue {
                // It will decline every later round too: stop scheduling it until it reconnects.
                Task { await sessions.markBudgetExhausted(id) }
            }
            perform(live!.machine.left(id))
        case .secagg(let chunk) where chunk.roundID == round.machine.roundID:
            live!.bytesReceived += chunk.data.count
            Counter(label: "tally_bytes_received_total").increment(by: chunk.data.count)
            var assembler = round.assemblers[id] ?? ChunkAssembler(maxTotalBytes: round.maxPayloadBytes)
            do {
                guard let (kind, payload) = try chunk.assemble(into: &assembler) else {
                    live!.assemblers[id] = assembler
                    return
                }
                live!.assemblers[id] = assembler
                perform(live!.machine.receive(kind, payload: payload, from: id))
            } catch {
                live!.assemblers[id] = nil
                logger.warning("refused a message", metadata: ["participant": "\(id.rawValue)", "reason": "\(error)"])
            }
        default:
            logger.debug("ignored a message for another round", metadata: ["participant": "\(id.rawValue)"])
        }
    }

    func disconnected(_ id: ParticipantID) {
        guard live != nil else { return }
        if live!.machine.outstanding.contains(id), let stage = live!.stage {
            Counter(label: "tally_dropouts_total", dimensions: [("stage", stage.rawValue)]).increment()
        }
        perform(live!.machine.left(id))
    }

    func deadlinePassed(round: UInt64, stage: RoundStage) {
        guard live?.machine.roundID == round else { return }
        // Who let the deadline pass is left out of cohorts until it answers: a stopped or hung
        // process would otherwise make every round wait a whole deadline.
        let silent = live!.machine.outstanding
        Counter(label: "tally_dropouts_total", dimensions: [("stage", stage.rawValue)]).increment(by: silent.count)
        perform(live!.machine.deadlinePassed(stage))
        guard !silent.isEmpty else { return }
        Task { [sessions, logger] in
            let marked = await sessions.markUnresponsive(silent)
            guard !marked.isEmpty else { return }
            logger.warning(
                "participants let a stage deadline pass; left out of cohorts until they answer",
                metadata: ["round": "\(round)", "stage": "\(stage)", "participants": "\(marked.map(\.rawValue))"])
        }
    }

    /// Carries out the machine's actions, in order. Never suspends: sends go through the outbox,
    /// whose one consumer keeps their order.
    private func perform(_ actions: [CoordinatorRound.Action]) {
        for action in actions {
            guard live != nil else { return }
            let roundID = live!.machine.roundID
            switch action {
            case .send(let kind, let payload, let recipients):
                outbox.yield((Self.chunks(round: roundID, kind: kind, payload: payload), recipients))
            case .enter(let stage):
                let now = ContinuousClock.now
                live!.recordStageTime(until: now)
                (live!.stage, live!.stageStarted) = (stage, now)
                live!.deadline?.cancel()
                do {
                    try store.setStage(round: Int64(roundID), stage)
                } catch {
                    perform(live!.machine.fail(error))
                    return
                }
                guard stage.collects else { continue }
                let timeout = Duration.milliseconds(Int64(live!.machine.agreement.parameters.stageTimeoutMilliseconds))
                live!.deadline = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await self?.deadlinePassed(round: roundID, stage: stage)
                }
            case .refused(let id, let error):
                logger.warning(
                    "refused a message", metadata: ["round": "\(roundID)", "participant": "\(id.rawValue)", "reason": "\(error)"])
            case .aggregated(let aggregate):
                live!.finish(.aggregated(aggregate))
            case .abort(let error, let charge):
                live!.finish(.aborted(error, charge: charge))
            }
        }
    }

    // MARK: Live status and operator actions

    /// A decline's code as a metric label: one of the reasons a participant declines for, or
    /// "other" (a participant chooses the text, and labels must stay few).
    static func declineCode(_ code: String) -> String {
        let known: [TallyError.Code] = [
            .privacyBudgetExhausted, .roundRequirementsNotMet, .permissionDenied, .integrityFailure, .malformedMessage,
            .notInCohort, .invalidArgument, .badSignature, .badKeySignature, .dataSchemaMismatch,
        ]
        return known.contains { $0.rawValue == code } ? code : "other"
    }

    /// ε of the coordinator's ledger after each of its entries (the status page's plot).
    public struct EpsilonPoint: Sendable, Codable, Hashable {
        public let round: Int64
        public let version: Int64?
        public let epsilon: Double
    }
    public private(set) var epsilonHistory: [EpsilonPoint] = []
    /// Set by an operator: no round is scheduled until resumed (not kept across restarts).
    public private(set) var paused = false

    /// What the engine is doing right now.
    public struct Live: Sendable, Codable, Hashable {
        public let round: Int64
        public let stage: String
        public let cohort: Int
        public let outstanding: Int
        public let stageSeconds: Double
    }

    public var liveStatus: Live? {
        guard let round = live else { return nil }
        return Live(
            round: Int64(round.machine.roundID), stage: round.stage?.rawValue ?? "planning", cohort: round.machine.cohort.count,
            outstanding: round.machine.outstanding.count, stageSeconds: round.stageStarted.secondsElapsed)
    }

    /// The noise multiplier rounds use (resolved at start-up; 0 before).
    public var noiseMultiplier: Double { policy.noiseMultiplier }

    public func setPaused(_ paused: Bool, by operatorName: String) {
        self.paused = paused
        logger.notice(
            paused ? "scheduling paused by an operator" : "scheduling resumed by an operator", metadata: ["operator": "\(operatorName)"])
    }

    /// Aborts the round in progress (nothing of it is released); returns its id, or nil if none.
    public func abortLiveRound(by operatorName: String) -> Int64? {
        guard let round = live else { return nil }
        logger.notice("round aborted by an operator", metadata: ["operator": "\(operatorName)", "round": "\(round.machine.roundID)"])
        perform(live!.machine.fail(TallyError(.roundAborted, "aborted by operator \(operatorName)")))
        return Int64(round.machine.roundID)
    }

    // MARK: Service

    public func run() async throws {
        await sessions.onDisconnect { [weak self] id in await self?.disconnected(id) }
        let sender = Task { [outgoing, sessions] in
            for await (messages, recipients) in outgoing {
                for id in recipients { await sessions.send(messages, to: id) }
            }
        }
        defer { sender.cancel() }
        let aborted = try store.abortInFlightRounds()
        if !aborted.isEmpty {
            logger.warning(
                "aborted rounds left running by a previous process; nothing of them was released", metadata: ["rounds": "\(aborted)"])
        }
        // Round counters continue from the database, so a restart does not reset them.
        for (outcome, rounds) in Dictionary(grouping: try store.rounds(), by: \.outcome) where outcome != .running {
            Counter(label: "tally_rounds_total", dimensions: [("outcome", outcome.rawValue)]).increment(by: rounds.count)
        }
        let (model, version) = try currentModel()
        let optimizer = try resumeOptimizer(after: version, parameterCount: model.parameterCount)
        // `rounds` counts the federation's released rounds, across restarts; the privacy target
        // covers what the ledger already holds.
        releasedRounds = try store.rounds().filter { $0.outcome == .released }.count
        let remaining = configuration.rounds == 0 ? nil : configuration.rounds - releasedRounds
        if let remaining, remaining <= 0 {
            logger.info(
                "all configured rounds were released", metadata: ["released": "\(releasedRounds)", "rounds": "\(configuration.rounds)"])
            return await farewell("all \(configuration.rounds) rounds are released", sender: sender)
        }
        guard
            let noiseMultiplier = try resolveNoiseMultiplier(
                parameterCount: model.roundVectorLength(evaluating: configuration.federatedEvaluation(for: model)),
                remainingRounds: remaining,
                firstRoundVectorLength: model.measuresMoments ? model.roundVectorLength : nil)
        else {
            return await farewell("the federation's privacy target is reached", sender: sender)
        }
        policy = try configuration.roundPolicy(noiseMultiplier: noiseMultiplier)
        if noiseMultiplier == 0 {
            logger.warning("differential privacy is OFF (noise multiplier 0): released models are not private")
        } else {
            logger.info(
                "differential privacy",
                metadata: [
                    "noise_multiplier": "\(String(format: "%.4f", noiseMultiplier))", "clip_norm": "\(configuration.clipNorm)",
                    "unit": "\(configuration.privacy.unit.rawValue)",
                    "sampling_rate": "\(policy.records.map { "\($0.samplingRate)" } ?? "1")",
                    "target":
                        "\(configuration.privacy.noiseMultiplier == nil ? "ε=\(configuration.privacy.targetEpsilon ?? 0), δ=\(configuration.privacy.delta) over \(configuration.rounds) rounds" : "explicit z")",
                ])
        }
        logger.info("coordinator ready", metadata: ["version": "\(version.version)", "model": "\(version.modelHash.prefix(12))"])
        do {
            try await cancelWhenGracefulShutdown {
                try await self.schedule(from: Head(model: model, version: version, optimizer: optimizer))
            }
            await farewell("all \(configuration.rounds) rounds are released", sender: sender)
        } catch is CancellationError {
            // Graceful shutdown: a round in flight was abandoned; it is aborted at next start-up.
        }
        logger.info("stopped", metadata: ["released_rounds": "\(releasedRounds)"])
    }

    /// The federation is finished: every connected participant is told why, after whatever the
    /// outbox still holds (the last round's end), so it stops instead of reconnecting.
    private func farewell(_ reason: String, sender: Task<Void, Never>) async {
        let connected = await sessions.connected()
        logger.notice(
            "federation finished; participants told to stop", metadata: ["reason": "\(reason)", "connected": "\(connected.count)"])
        outbox.yield(([.with { $0.farewell = .with { f in f.reason = reason } }], connected))
        outbox.finish()
        await sender.value
    }

    /// Starts a round whenever enough participants are connected, until the configured number of
    /// rounds has been released.
    private func schedule(from start: Head) async throws {
        var head = start
        var lastWaitLog = ContinuousClock.now - .seconds(60)
        var lastRevocationCheck = ContinuousClock.now - .seconds(60)
        while configuration.rounds == 0 || releasedRounds < configuration.rounds {
            try await Task.sleep(for: .seconds(configuration.roundIntervalSeconds))
            // An operator paused scheduling (the live status API): no new round until resumed.
            if paused {
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            var eligible = await sessions.eligible()
            // Revocations take effect on open sessions: before every round, and every few
            // seconds while waiting, the revocation list is read again.
            if eligible.count >= configuration.minParticipants
                || ContinuousClock.now - lastRevocationCheck > .seconds(Self.revocationCheckSeconds)
            {
                if await closeRevokedSessions() { eligible = await sessions.eligible() }
                lastRevocationCheck = ContinuousClock.now
            }
            guard eligible.count >= configuration.minParticipants else {
                if ContinuousClock.now - lastWaitLog > .seconds(5) {
                    let status = await sessions.status()
                    logger.info(
                        "waiting for participants",
                        metadata: [
                            "eligible": "\(eligible.count)", "needed": "\(configuration.minParticipants)",
                            "connected": "\(status.connected)",
                            "without_budget": "\(status.withoutBudget)", "before_hello": "\(status.beforeHello)",
                            "unresponsive": "\(status.unresponsive)",
                        ])
                    if status.withoutBudget > 0, status.connected - status.withoutBudget < configuration.minParticipants {
                        logger.warning(
                            "stuck: too few connected participants have privacy budget left for a round",
                            metadata: ["without_budget": "\(status.withoutBudget)", "needed": "\(configuration.minParticipants)"])
                    }
                    lastWaitLog = ContinuousClock.now
                }
                continue
            }
            var generator = SystemRandomNumberGenerator()
            let cohort = Array(eligible.shuffled(using: &generator).prefix(configuration.maxCohort)).sorted()
            do {
                head = try await runRound(cohort: cohort, from: head)
                releasedRounds += 1
            } catch {
                logger.warning("round aborted; nothing released", metadata: ["reason": "\(error)"])
            }
        }
        logger.info("all rounds done", metadata: ["released": "\(releasedRounds)"])
    }

    /// How often a waiting coordinator re-reads the revocation list for open sessions.
    static let revocationCheckSeconds = 5

    /// Closes every open session whose certificate the revocation list (as it is now) or its
    /// validity period no longer admits; returns whether it closed any. One trust is kept, so a
    /// session's certificate is fully validated once and then only checked against the list and
    /// its dates: this runs before every round.
    private func closeRevokedSessions() async -> Bool {
        do {
            if sessionTrust == nil {
                sessionTrust = try FederationTrust(caFile: configuration.tls.certificateAuthority, crlFile: configuration.revocationList)
            } else {
                try sessionTrust!.reloadRevocations(crlFile: configuration.revocationList)
            }
        } catch {
            logger.warning("cannot re-read the revocation list; open sessions keep their admission", metadata: ["reason": "\(error)"])
            return false
        }
        let closed = await sessions.closeRefused(by: sessionTrust!)
        for (id, reason) in closed {
            logger.warning(
                "closed a participant's session: its certificate no longer admits it",
                metadata: ["participant": "\(id.rawValue)", "reason": "\(reason)"])
        }
        return !closed.isEmpty
    }
    /// The federation CA and the revocation list as last read, for open sessions.
    private var sessionTrust: FederationTrust?

    /// The latest published model, or a fresh all-zero one published as version 0.
    private func currentModel() throws -> (ModelState, CoordinatorStore.VersionRecord) {
        let initial = try configuration.initialModel()
        if let latest = try store.latestVersion() {
            let model = try ModelState(safeTensors: try SafeTensors(serialized: try registry.blob(hash: latest.modelHash)))
            // A federation trains one model: another architecture needs another data directory.
            guard model.spec == initial.spec, model.features == initial.features else {
                throw TallyError(
                    .invalidArgument,
                    "the configured model (\(initial.spec), features \(initial.features.rawValue)) is not the one version \(latest.version) in \(configuration.dataDirectory) has (\(model.spec), features \(model.features.rawValue)); keep the model or start a new data directory"
                )
            }
            guard Standardization.sameTask(initial.standardization, model.standardization) else {
                throw TallyError(
                    .invalidArgument,
                    "the configured model.standardization is not the one version \(latest.version) in \(configuration.dataDirectory) was published with; keep it or start a new data directory"
                )
            }
            return (model, latest)
        }
        let model = initial
        let record = try publish(
            model: model, blob: try model.safeTensors().serialized(), parent: nil, roundID: nil, cohortSize: 0, contributors: 0)
        try store.insertVersion(record)
        return (model, record)
    }

    /// Writes blob (`model` serialized as safetensors) and signed manifest; the caller makes it
    /// visible by committing the record.
    private func publish(
        model: ModelState, blob: [UInt8], parent: Int64?, roundID: Int64?, cohortSize: Int, contributors: Int,
        lineage: ModelManifest.Lineage? = nil, parentEvaluation: FederatedEvaluation.Metrics? = nil, number: Int64? = nil
    ) throws -> CoordinatorStore.VersionRecord {
        // With federated evaluation, a new version waits for the next round's scores (the
        // initial model is the start, published as it is).
        let evaluation = configuration.federatedEvaluation(for: model)
        let hash = try registry.storeBlob(blob)
        var metrics: [String: Double] = [:]
        if let evaluation = try evaluationInputs(for: model), let accuracy = try model.accuracy(on: evaluation) {
            metrics["test_accuracy"] = accuracy
        }
        let version = number ?? (parent ?? -1) + 1
        let manifest = ModelManifest(
            version: version, parent: parent, roundID: roundID, modelHash: hash, cohortSize: cohortSize,
            contributors: contributors, training: configuration.training, metrics: metrics,
            createdAt: Date(), coordinatorCertificate: certificatePEM, lineage: lineage, evaluation: evaluation,
            parentEvaluation: parentEvaluation)
        let bytes = try manifest.canonicalBytes()
        let signature = try signingKey.signature(for: bytes)
        try registry.storeManifest(version: version, manifest: bytes, signature: signature)
        return CoordinatorStore.VersionRecord(
            version: version, modelHash: hash, parent: parent, roundID: roundID,
            createdAt: Date().timeIntervalSince1970, manifest: bytes, signature: signature,
            accuracy: metrics["test_accuracy"], status: evaluation != nil && parent != nil ? .candidate : .published)
    }

    /// The evaluation set as `model` reads it (standardized once its standardization is measured),
    /// kept for as long as the standardization does not change.
    private func evaluationInputs(for model: ModelState) throws(TallyError) -> Dataset? {
        guard let evaluation, let standardization = model.standardization, !standardization.isPending else { return evaluation }
        if let kept = standardizedEvaluation, kept.standardization == standardization { return kept.data }
        let data = try model.inputs(evaluation)
        standardizedEvaluation = (standardization, data)
        return data
    }
    private var standardizedEvaluation: (standardization: Standardization, data: Dataset)?

    // MARK: One round

    private func runRound(cohort chosen: [ParticipantID], from head: Head) async throws -> Head {
        let (model, version) = (head.model, head.version)
        let started = ContinuousClock.now
        // Only members still connected (with a certificate to show the others) are planned: one
        // that left between scheduling and planning would make every participant decline.
        let certificates = await sessions.certificates(for: chosen)
        let members = chosen.compactMap { id in certificates[id].map { (id: id, certificate: $0.pem) } }
        guard members.count >= configuration.minParticipants else {
            throw TallyError(.belowThreshold, "cohort dissolved before the round started")
        }
        let roundID = try store.nextRoundID()
        let compressed = try registry.compressedBlob(hash: version.modelHash)
        let agreement = try RoundAgreement.plan(
            roundID: UInt64(roundID), members: members,
            model: (
                hash: Hex.decode(version.modelHash) ?? [], parameterCount: model.roundVectorLength(evaluating: head.evaluation),
                compressedBytes: compressed.count
            ),
            policy: policy)
        let parameters = agreement.parameters
        let cohort = parameters.cohort
        let machine = try CoordinatorRound(
            agreement: agreement,
            identities: InMemoryIdentityDirectory(keys: certificates.mapValues(\.key)))
        try store.beginRound(id: roundID, cohort: cohort.count)
        var log = logger
        log[metadataKey: "round"] = "\(roundID)"
        log.info(
            "round started",
            metadata: [
                "cohort": "\(cohort.count)", "threshold": "\(parameters.threshold)",
                "dimension": "\(parameters.dimension)", "slot_bits": "\(parameters.slotWidth)",
            ])

        // Plan and model, then the stages.
        let plan = Tally_V1_RoundPlan(parameters, manifest: version.manifest, manifestSignature: version.signature)
        let pieces = MessageChunking.split(compressed)
        let modelChunks = pieces.enumerated().map { i, piece in
            Tally_V1_CoordinatorMessage.with { m in
                m.model = .with {
                    $0.roundID = UInt64(roundID); $0.index = UInt32(i); $0.count = UInt32(pieces.count); $0.data = Data(piece)
                }
            }
        }
        outbox.yield(([.with { $0.plan = plan }] + modelChunks, cohort))
        live = LiveRound(machine: machine)
        defer {
            // The last stage (releasing, or where it aborted) ends with the round.
            live?.recordStageTime(until: .now)
            live = nil
        }
        let outcome = await withCheckedContinuation { continuation in
            live!.outcome = continuation
            perform(live!.machine.start())
        }

        var charge: RoundAgreement.Charge?
        do {
            guard case .aggregated(let aggregate) = outcome else {
                if case .aborted(let error, let learned) = outcome { charge = learned; throw error }
                fatalError("unreachable")
            }
            charge = aggregate.charge
            try hooks.sumUnmasked(UInt64(roundID))
            // Decode Σ clip(Δ_i) + noise and average over the m contributors (a public count: equal
            // weights, as participant-level DP-FedAvg needs; data sizes would leak through weights).
            // Record-level: Σ_records clip(g) + noise over the expected batch B (public, never the
            // sample's actual size), and the step goes against the gradient.
            let decoder = try DistributedDPDecoder(
                configuration: agreement.privacy,
                rotationSeed: DistributedDPConfiguration.rotationSeed(roundBytes: aggregate.rotationSeed))
            let decoded = try decoder.decodeSum(aggregate.sum, contributors: aggregate.contributors.count)
            if decoded.overflowSuspected > 0 {
                log.warning(
                    "coordinates of the sum probably overflowed their slots (accuracy only, no privacy cost)",
                    metadata: ["coordinates": "\(decoded.overflowSuspected)"])
            }
            var optimizer = head.optimizer
            let newModel: ModelState
            // The sites' evaluation of the version this round started from follows the update.
            var values = decoded.values
            var judged: Judgement?
            if let evaluation = model.carried(head.evaluation) {
                let sums = Array(values[model.parameterCount...])
                values.removeLast(sums.count)
                judged = try judge(
                    head.version,
                    FederatedEvaluation.metrics(
                        fromSum: sums,
                        scale: evaluation.recordScale(
                            clipNorm: agreement.parameters.clipNorm, recordUnit: agreement.privacy.records != nil),
                        noise: agreement.privacy.effectiveNoiseMultiplier(shares: aggregate.contributors.count)
                            * agreement.parameters.clipNorm),
                    log: log)
            }
            if let pending = model.standardization, pending.isPending {
                // A moments round: the released sum gives each feature's mean and spread; the
                // parameters and the server optimizer's moments stay as they were.
                let measured = try pending.measured(fromMomentsSum: values, clipNorm: agreement.parameters.clipNorm)
                newModel = model.with(standardization: measured)
                log.info(
                    "measured the features' moments; the model now standardizes its inputs",
                    metadata: [
                        "features": "\(measured.mean?.count ?? 0)",
                        "count":
                            "\(String(format: "%.0f", values[0] / (agreement.parameters.clipNorm / Double(values.count).squareRoot())))",
                    ])
            } else {
                let divisor = agreement.privacy.records.map { -Double($0.expectedBatchSize) } ?? Double(aggregate.contributors.count)
                newModel = model.with(
                    parameters: try optimizer.aggregate(global: model.parameters, meanUpdate: values.map { Float($0 / divisor) }))
            }
            let blob = try newModel.safeTensors().serialized()
            let number = max(version.version, highestChargedVersion) + 1
            // The privacy cost is on disk, signed and synced, before anything is published.
            let entry = agreement.ledgerEntry(
                aggregate.charge, modelVersion: number,
                modelHash: Hex.encode(SHA256Digest.hash(blob)), recordedAt: Date().timeIntervalSince1970)
            try ledger.append(entry, accountingIn: &spent)
            let epsilonSpent = try spent.epsilon()
            epsilonHistory.append(.init(round: roundID, version: number, epsilon: epsilonSpent))
            highestChargedVersion = number
            charge = nil
            live!.machine.charged()
            hooks.ledgerAppended(UInt64(roundID))
            let lineage = ModelManifest.Lineage(
                privacyUnit: agreement.privacy.unit.rawValue,
                epsilonSpent: epsilonSpent,
                delta: configuration.privacy.delta, noiseMultiplier: agreement.parameters.noiseMultiplier,
                serverOptimizer: optimizer.settings)
            let record = try publish(
                model: newModel, blob: blob, parent: version.version, roundID: roundID,
                cohortSize: cohort.count, contributors: aggregate.contributors.count, lineage: lineage,
                parentEvaluation: judged?.metrics, number: number)
            try store.releaseRound(
                id: roundID, contributors: aggregate.contributors.count,
                dropped: cohort.count - aggregate.contributors.count, version: record, optimizer: try Self.saved(optimizer),
                judged: judged.map { (version: version.version, status: $0.status, validation: $0.metrics, score: $0.score) })
            live!.machine.released()
            let seconds = (ContinuousClock.now - started).seconds
            Counter(label: "tally_rounds_total", dimensions: [("outcome", "released")]).increment()
            Timer(label: "tally_round_seconds").recordSeconds(seconds)
            log.info(
                "round released",
                metadata: [
                    "version": "\(record.version)", "contributors": "\(aggregate.contributors.count)", "cohort": "\(cohort.count)",
                    "dropped": "\(cohort.count - aggregate.contributors.count)",
                    "noise_multiplier":
                        "\(String(format: "%.3f", agreement.privacy.effectiveNoiseMultiplier(shares: aggregate.charge.noiseShares)))",
                    "accuracy": "\(record.accuracy.map { String(format: "%.4f", $0) } ?? "-")",
                    "evaluated":
                        "\(judged.map { "version \(version.version) \(configuration.validation.metric)=\($0.metrics.map { String(format: "%.4f", configuration.validation.value($0)) } ?? "-") \($0.status.rawValue)" } ?? "-")",
                    "seconds": "\(String(format: "%.2f", seconds))",
                ])
            outbox.yield(
                (
                    [
                        .with {
                            $0.end = .with { e in
                                e.roundID = UInt64(roundID); e.released = true; e.newModelHash = Data(Hex.decode(record.modelHash) ?? [])
                            }
                        }
                    ], cohort
                ))
            return Head(model: newModel, version: record, optimizer: optimizer)
        } catch {
            let reason = "\(error)"
            if let charge {
                // Aborted after unmasking: nothing is published, but the sum was seen. Charged
                // against the base model, with no version.
                do {
                    let entry = agreement.ledgerEntry(
                        charge, modelVersion: nil, modelHash: version.modelHash, recordedAt: Date().timeIntervalSince1970)
                    try ledger.append(entry, accountingIn: &spent)
                    epsilonHistory.append(.init(round: roundID, version: nil, epsilon: try spent.epsilon()))
                    log.warning(
                        "round aborted after the sum was unmasked; its privacy cost is in the ledger", metadata: ["reason": "\(reason)"])
                } catch let ledgerError {
                    log.critical(
                        "round aborted after unmasking and its privacy cost could not be written", metadata: ["reason": "\(ledgerError)"])
                }
            }
            try? store.abortRound(id: roundID, reason: reason)
            Counter(label: "tally_rounds_total", dimensions: [("outcome", "aborted")]).increment()
            outbox.yield(
                (
                    [
                        .with {
                            $0.end = .with { e in
                                e.roundID = UInt64(roundID); e.released = false; e.reason = reason
                            }
                        }
                    ], cohort
                ))
            throw error
        }
    }

    /// The gate's decision on `version` (the model a round started from) given the federation's
    /// evaluation of it: its gate score is the metric smoothed with its parent's score
    /// (post-processing of released sums: no privacy cost), and a candidate is published only if
    /// its score beats the published version's by more than the threshold. Without a metric (no
    /// held-out records anywhere) or a published score to compare with, it is published. A
    /// version already judged keeps its status and takes the newer scores.
    private struct Judgement {
        var status: CoordinatorStore.VersionStatus
        var metrics: FederatedEvaluation.Metrics?
        var score: Double?
    }

    private func judge(
        _ version: CoordinatorStore.VersionRecord, _ metrics: FederatedEvaluation.Metrics?, log: Logger
    ) throws -> Judgement {
        let gate = configuration.validation
        let parentScore = try version.parent.flatMap { (parent) throws(TallyError) in try store.version(parent)?.gateScore }
        let score = metrics.map { gate.score($0, parent: parentScore) }
        guard version.status == .candidate else {
            return Judgement(status: version.status, metrics: metrics ?? version.validationMetrics, score: score ?? version.gateScore)
        }
        guard let metrics, let score else {
            log.warning(
                "no federated evaluation of the candidate (no held-out records, or too noisy): published without the gate",
                metadata: ["version": "\(version.version)"])
            return Judgement(status: .published, metrics: nil, score: nil)
        }
        if let noise = gate.noise(metrics), noise > gate.maxNoise {
            log.notice(
                "candidate published without the gate: its evaluation is too noisy to judge",
                metadata: [
                    "version": "\(version.version)", "noise_sd": "\(noise.formatted(.number.precision(.significantDigits(2))))",
                    "max_noise": "\(gate.maxNoise)",
                ])
            return Judgement(status: .published, metrics: metrics, score: score)
        }
        guard let published = try store.publishedVersion(), let baseline = published.gateScore else {
            return Judgement(status: .published, metrics: metrics, score: score)
        }
        let passes = gate.passes(score: score, over: baseline)
        let detail: Logger.Metadata = [
            "version": "\(version.version)", "metric": "\(gate.metric)",
            "candidate": "\(String(format: "%.4f", gate.value(metrics)))", "candidate_score": "\(String(format: "%.4f", score))",
            "noise_sd": "\((gate.noise(metrics) ?? 0).formatted(.number.precision(.significantDigits(2))))",
            "published_version": "\(published.version)", "published_score": "\(String(format: "%.4f", baseline))",
            "min_improvement": "\(gate.minImprovement)",
        ]
        if passes {
            log.info("candidate published: it improves on the published version", metadata: detail)
        } else {
            log.notice("candidate evaluated, not published: no improvement over the published version", metadata: detail)
        }
        return Judgement(status: passes ? .published : .notPublished, metrics: metrics, score: score)
    }

    /// z for the rounds still to run, with the ledger's earlier rounds counted against the target;
    /// nil when the target is already reached (the log says so).
    private func resolveNoiseMultiplier(parameterCount: Int, remainingRounds: Int?, firstRoundVectorLength: Int?) throws -> Double? {
        let spent = try ledger.entries()
        do {
            return try configuration.noiseMultiplier(
                parameterCount: parameterCount, spent: spent, remainingRounds: remainingRounds,
                firstRoundVectorLength: firstRoundVectorLength)
        } catch {
            guard error.code == .privacyBudgetExhausted else { throw error }
            logger.notice("federation privacy target reached; no more rounds", metadata: ["reason": "\(error.message)"])
            return nil
        }
    }

    /// The optimizer as of `version`: its saved moments when the settings are unchanged, a fresh
    /// one otherwise (the log says which).
    private func resumeOptimizer(after version: CoordinatorStore.VersionRecord, parameterCount: Int) throws -> ServerOptimizer {
        let settings = configuration.serverOptimizer
        if let saved = try store.optimizerState(version: version.version) {
            if (try? JSONDecoder().decode(ServerOptimizer.Settings.self, from: Data(saved.settings))) == settings {
                let tensors = try SafeTensors(serialized: saved.state)
                var state: [String: [Float]] = [:]
                for name in ["m", "v"] { if let tensor = tensors[name] { state[name] = try tensor.floatValues() } }
                logger.info(
                    "server optimizer resumed", metadata: ["optimizer": "\(settings.kind.rawValue)", "version": "\(version.version)"])
                return try ServerOptimizer(settings: settings, parameterCount: parameterCount, state: state)
            }
            logger.warning(
                "server optimizer settings changed since the last version; its moments start afresh",
                metadata: ["optimizer": "\(settings.kind.rawValue)"])
        }
        return try ServerOptimizer(settings: settings, parameterCount: parameterCount)
    }

    /// What to commit with a version: the settings and the moments (nothing for plain FedAvg).
    private static func saved(_ optimizer: ServerOptimizer) throws -> CoordinatorStore.OptimizerState? {
        let tensors = optimizer.stateTensors
        guard !tensors.isEmpty else { return nil }
        var named: [String: SafeTensors.Tensor] = [:]
        for (name, values) in tensors { named[name] = try SafeTensors.Tensor(shape: [values.count], values: values) }
        return CoordinatorStore.OptimizerState(
            settings: [UInt8](try JSONEncoder().encode(optimizer.settings)),
            state: try SafeTensors(tensors: named, metadata: ["format": "tally-server-optimizer/v1"]).serialized())
    }

    static func chunks(round: UInt64, kind: MessageKind, payload: [UInt8]) -> [Tally_V1_CoordinatorMessage] {
        Tally_V1_SecAggMessage.chunks(round: round, kind: kind, payload: payload).map { chunk in .with { $0.secagg = chunk } }
    }
}
