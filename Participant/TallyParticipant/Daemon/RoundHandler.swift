import Foundation
import Logging
import TallyCore
import TallyLedger
import TallyModel
import TallyRound
import TallySecAgg
import TallyWire

/// Drives this participant's rounds: checks each plan, receives and verifies the model, trains
/// on local data, and carries out what ``ParticipantRound`` (the I/O-free round logic) decides.
/// Message handling never waits for training: the encoded update comes back as an event, so a
/// round the coordinator ends is left at once. Only the masked input derived from the data leaves.
actor RoundHandler {
    let configuration: ParticipantConfiguration
    let identityKey: SigningPrivateKey
    let trust: FederationTrust
    let data: LocalData
    let budget: BudgetGuard
    let hooks: ParticipantHooks
    let activity: ParticipantActivity
    var logger: Logger
    let send: @Sendable (Tally_V1_ParticipantMessage) -> Void

    private struct Round {
        let plan: Tally_V1_RoundPlan
        /// When the plan arrived: the masked input leaves no earlier than this plus the plan's delay.
        let arrived = ContinuousClock.now
        var modelAssembler: ChunkAssembler
        var assembler: ChunkAssembler
        /// The round's logic, once the plan is checked and the model verified.
        var machine: ParticipantRound?
        /// What this participant contributes: the model update Δ = trained − global, or in a
        /// record-level round its sampled records' clipped gradient sum.
        var training: Task<[Double], any Error>?
        /// This participant's noise share, drawn while it trains (it depends on the plan only).
        var noise: Task<[Int64], Never>?
        /// The update's distributed-DP encoding, once the rotation's seed is known.
        var encoding: Task<Void, Never>?
        /// Fires when the plan's masked-input delay has passed.
        var delay: Task<Void, Never>?

        /// Stops the round's background work when it ends or is left.
        func cancelWork() {
            training?.cancel()
            noise?.cancel()
            encoding?.cancel()
            delay?.cancel()
        }
    }
    private var round: Round?

    init(
        configuration: ParticipantConfiguration, identityKey: SigningPrivateKey, trust: FederationTrust, data: LocalData,
        budget: BudgetGuard, hooks: ParticipantHooks = .none, activity: ParticipantActivity, logger: Logger,
        send: @escaping @Sendable (Tally_V1_ParticipantMessage) -> Void
    ) {
        self.activity = activity
        self.configuration = configuration
        self.identityKey = identityKey
        self.trust = trust
        self.data = data
        self.budget = budget
        self.hooks = hooks
        self.logger = logger
        self.send = send
    }

    func handle(_ message: Tally_V1_CoordinatorMessage) async {
        switch message.body {
        case .welcome(let welcome):
            logger.info("joined the federation", metadata: ["as": "\(welcome.participantID)"])
        case .plan(let plan):
            await activity.planned(plan.roundID)
            startRound(plan)
        case .model(let chunk):
            await receiveModel(chunk)
        case .secagg(let chunk):
            receiveSecAgg(chunk)
        case .end(let end):
            await activity.ended(end.roundID, released: end.released, reason: end.reason)
            guard round?.plan.roundID == end.roundID else { return }
            round?.cancelWork()
            round = nil
            if end.released {
                logger.info("round released", metadata: ["round": "\(end.roundID)", "model": "\(Hex.encode(end.newModelHash).prefix(12))"])
            } else {
                logger.info(
                    "round aborted by the coordinator; nothing was released",
                    metadata: ["round": "\(end.roundID)", "reason": "\(end.reason)"])
            }
        case .ping(let ping):
            // The coordinator left this participant out after a missed deadline: answer, so it
            // schedules it again.
            logger.info("the coordinator asked whether this participant is alive; answering")
            send(.with { $0.pong = .with { p in p.nonce = ping.nonce } })
        case .farewell, nil:
            // A farewell ends the session before it gets here (ParticipantDaemon).
            break
        }
    }

    private func decline(_ roundID: UInt64, _ error: TallyError) {
        logger.warning("declining round", metadata: ["round": "\(roundID)", "reason": "\(error)"])
        Task { [activity] in await activity.declined(roundID, code: error.code.rawValue, reason: error.message) }
        send(
            .with {
                $0.decline = .with { d in
                    d.roundID = roundID; d.code = error.code.rawValue; d.reason = error.message
                }
            })
        if round?.plan.roundID == roundID {
            round?.cancelWork()
            round = nil
        }
    }

    private func startRound(_ plan: Tally_V1_RoundPlan) {
        round?.cancelWork()
        let maxModel = Int(min(plan.compressedModelBytes, UInt64(512 << 20)))
        round = Round(
            plan: plan, modelAssembler: ChunkAssembler(maxTotalBytes: maxModel),
            assembler: ChunkAssembler(maxTotalBytes: configuration.maxMessageBytes * 8))
        logger.info(
            "round planned", metadata: ["round": "\(plan.roundID)", "cohort": "\(plan.cohort.count)", "threshold": "\(plan.threshold)"])
    }

    private func receiveModel(_ chunk: Tally_V1_ModelChunk) async {
        guard var current = round, current.plan.roundID == chunk.roundID else { return }
        let plan = current.plan
        do {
            guard
                let compressed = try current.modelAssembler.add(
                    round: chunk.roundID, kind: 0, index: chunk.index, count: chunk.count, data: [UInt8](chunk.data))
            else {
                round = current
                return
            }
            // The model: decompress under a cap, check its hash against the plan and the signed
            // manifest, then train on it — never on anything unverified.
            let manifest = try await ModelManifest.verified(
                bytes: [UInt8](plan.manifest), signature: [UInt8](plan.manifestSignature), trust: trust)
            let blob = try Zstd.decompress(compressed, maxOutputBytes: 512 << 20)
            let hash = SHA256Digest.hash(blob)
            guard hash == [UInt8](plan.modelHash), Hex.encode(hash) == manifest.modelHash else {
                throw TallyError(.integrityFailure, "the model received does not match the signed manifest")
            }
            let model = try ModelState(safeTensors: try SafeTensors(serialized: blob))
            let me = ParticipantID(try currentID(plan))
            // The evaluation setting sizes this organization's contribution: a share outside (0, 1)
            // would break its clip, whoever signed it.
            try manifest.evaluation?.validate(what: "the signed manifest's evaluation")
            let (agreement, identities) = try await agreement(plan, model: model, evaluation: manifest.evaluation, me: me)
            // Benchmark-only plans are refused unless this daemon was configured for benchmarks.
            let privacy = agreement.privacy
            if agreement.isBenchmarkOnly && !configuration.allowInsecureBenchmarkRounds {
                throw TallyError(
                    .permissionDenied,
                    "the plan asks for an update \(plan.insecureUnmasked ? "without masking" : "without noise"); this daemon only allows that with allowInsecureBenchmarkRounds"
                )
            }
            // A record-level guarantee says nothing about the organization as a whole: an
            // organization-level budget takes no record-level round.
            if privacy.unit == .record && configuration.privacyBudget.unit == .organization {
                throw TallyError(
                    .permissionDenied,
                    "the plan is record-level (each record sampled with q = \(privacy.records?.samplingRate ?? 0)); this organization's budget protects the organization as a whole (privacyBudget.unit \"organization\"), which a record-level round does not; set privacyBudget.unit to \"record\" to take part"
                )
            }
            // The budget first: a round that would overspend is declined before any work.
            // Charged at the plan's guarantee: t − c honest shares, whoever else survives. A
            // benchmark round without masking shows the coordinator this participant's input with
            // its own share alone: charged as no protection at all (ε = ∞).
            let cost = agreement.ledgerEntry(
                agreement.participantCharge(me), modelVersion: nil, modelHash: Hex.encode(plan.modelHash),
                recordedAt: Date().timeIntervalSince1970)
            let (epsilonAfter, charge): (Double, LedgerEntry?)
            if plan.insecureUnmasked {
                logger.warning(
                    "round runs WITHOUT secure aggregation (benchmark mode): charged as ε = ∞", metadata: ["round": "\(plan.roundID)"])
                (epsilonAfter, charge) = (.infinity, cost)
            } else if privacy.noise == nil {
                // Benchmark round without noise (allowed above only for a daemon configured for
                // benchmarks, whose data is not private): nothing is charged, the log says so.
                logger.warning("round runs WITHOUT differential privacy noise (benchmark mode)", metadata: ["round": "\(plan.roundID)"])
                (epsilonAfter, charge) = (try budget.spent(), nil)
            } else {
                (epsilonAfter, charge) = (try budget.admit(cost), cost)
            }
            current.training = makeTraining(
                plan: plan, model: model, records: privacy.records,
                evaluation: model.carried(manifest.evaluation))
            current.noise = Task.detached(priority: .userInitiated) { privacy.sampleNoiseShare(random: SystemRandom()) }
            current.machine = try ParticipantRound(
                agreement: agreement, me: me, identityKey: identityKey, identities: identities,
                cost: charge)
            let delay = agreement.parameters.maskedInputDelayMilliseconds
            if delay > 0 {
                let (roundID, until) = (plan.roundID, current.arrived + .milliseconds(Int64(delay)))
                current.delay = Task { [weak self] in
                    try? await Task.sleep(until: until)
                    guard !Task.isCancelled else { return }
                    await self?.delayElapsed(round: roundID)
                }
            }
            round = current
            // Not awaited: the round must not change under this actor before it starts.
            let joinedAfter = charge == nil ? nil : epsilonAfter
            Task { [activity] in await activity.joined(plan.roundID, epsilonAfter: joinedAfter) }
            logger.info(
                "model verified; training\(plan.insecureUnmasked ? "" : " and advertising keys")",
                metadata: [
                    "round": "\(plan.roundID)", "version": "\(manifest.version)",
                    "noise_multiplier": "\(String(format: "%.3f", plan.noiseMultiplier))",
                    "epsilon_after_round": "\(String(format: "%.3f", epsilonAfter))", "epsilon_budget": "\(budget.budget.epsilon)",
                ])
            perform(round!.machine!.start(), round: plan.roundID)
        } catch let error as TallyError {
            decline(chunk.roundID, error)
        } catch {
            decline(chunk.roundID, TallyError(.malformedMessage, "\(error)"))
        }
    }

    /// The participant's own id is whatever its certificate says (read once: the session it
    /// connected with was made with that certificate); the plan must include it.
    private func currentID(_ plan: Tally_V1_RoundPlan) throws(TallyError) -> UInt32 {
        let id: UInt32
        if let known = ownID {
            id = known
        } else {
            guard
                let own = try? PeerIdentity(
                    certificate: .init(pemEncoded: FederationTrust.readPEM(configuration.tls.certificate, what: "certificate"))),
                case .participant(let read) = own
            else {
                throw TallyError(.permissionDenied, "this daemon's certificate is not a participant certificate")
            }
            id = read.rawValue
            ownID = id
        }
        guard plan.cohort.contains(id) else { throw TallyError(.notInCohort, "round plan does not include this participant") }
        return id
    }
    private var ownID: UInt32?

    /// Checks the plan (the same checks and derivations the coordinator ran, in ``RoundAgreement``),
    /// verifies every cohort certificate against the CA and its cohort id, and applies this
    /// organization's own minimums.
    private func agreement(
        _ plan: Tally_V1_RoundPlan, model: ModelState, evaluation: FederatedEvaluation?, me: ParticipantID
    ) async throws(TallyError) -> (RoundAgreement, InMemoryIdentityDirectory) {
        let agreement = try RoundAgreement(
            parameters: try plan.parameters(), parameterCount: model.roundVectorLength(evaluating: evaluation))
        var keys: [ParticipantID: SigningPublicKey] = [:]
        var fingerprints: [ParticipantID: String] = [:]
        for (id, pem) in zip(agreement.parameters.cohort, agreement.parameters.cohortCertificates) {
            let (identity, key) = try await trust.verify(pem: pem)
            guard identity == .participant(id) else {
                throw TallyError(.permissionDenied, "the certificate given for participant \(id.rawValue) belongs to \(identity)")
            }
            keys[id] = key
            fingerprints[id] = try CertificateFingerprint.sha256(pem: pem)
        }
        // This organization's own minimums, whatever the coordinator planned.
        try configuration.roundRequirements.check(agreement.secAgg, fingerprints: fingerprints, own: me)
        return (agreement, InMemoryIdentityDirectory(keys: keys))
    }

    /// Local training, off the actor: Δ = trained − global. The built-in trainer on the local
    /// data, or the organization's own program (``ExternalTrainer``), whose metrics and last
    /// output lines are logged here (never the model). A training failure declines the round:
    /// the coordinator learns the error's message, not the program's output.
    ///
    /// In a record-level round (`records`), the clipped gradient sum of a secret Poisson sample of
    /// the records instead (``LocalData/clippedGradientSum(model:samplingRate:clipNorm:random:)``):
    /// the daemon's own computation, so an external trainer cannot take part.
    private func makeTraining(
        plan: Tally_V1_RoundPlan, model: ModelState, records: DistributedDPConfiguration.RecordSampling?,
        evaluation: FederatedEvaluation?
    ) -> Task<[Double], any Error> {
        let train = makeUpdate(plan: plan, model: model, records: records)
        guard let evaluation else { return train }
        let (data, logger) = (self.data, self.logger)
        return Task.detached(priority: .userInitiated) {
            try await withTaskCancellationHandler {
                var update = try await train.value
                // The evaluation's sums go after the update (``FederatedEvaluation``).
                let recordUnit = records != nil
                if !recordUnit {
                    // The organization's whole contribution stays within C: its update within
                    // C·√(1 − s), its evaluation within C·√s.
                    let limit = evaluation.updateClipNorm(clipNorm: plan.clipNorm)
                    let norm = update.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    if norm > limit { update = update.map { $0 * limit / norm } }
                }
                let (sum, records) = try data.evaluationContribution(
                    model: model, evaluation: evaluation, samplingRate: records?.samplingRate, clipNorm: plan.clipNorm,
                    random: SystemRandom())
                logger.info(
                    "added this version's evaluation on the held-out records to the update",
                    metadata: ["round": "\(plan.roundID)", "held_out_records": "\(records)"])
                return update + sum
            } onCancel: {
                train.cancel()
            }
        }
    }

    private func makeUpdate(
        plan: Tally_V1_RoundPlan, model: ModelState, records: DistributedDPConfiguration.RecordSampling?
    ) -> Task<[Double], any Error> {
        let (data, logger, activity) = (self.data, self.logger, self.activity)
        let external = configuration.trainer == ParticipantConfiguration.externalTrainerName ? configuration.externalTrainer : nil
        return Task.detached(priority: .userInitiated) { [weak self] in
            let start = ContinuousClock.now
            let settings = TrainingSettings(plan.training)
            do {
                // The model this round starts from, scored on the examples never trained on.
                if let heldOut = try data.examples(for: model)?.heldOut, heldOut.count > 0,
                    let score = try model.evaluate(on: heldOut)
                {
                    var metadata: Logger.Metadata = [
                        "round": "\(plan.roundID)", "held_out": "\(heldOut.count)",
                        "accuracy": "\(String(format: "%.4f", score.accuracy))", "loss": "\(String(format: "%.4f", score.loss))",
                    ]
                    // Two-class tasks: the ROC AUC too (nil when the held-out part lacks a class).
                    let auc = try model.auc(on: heldOut)
                    if let auc { metadata["auc"] = "\(String(format: "%.4f", auc))" }
                    logger.info("local evaluation of the global model", metadata: metadata)
                    await activity.evaluated(
                        .init(round: plan.roundID, heldOut: heldOut.count, accuracy: score.accuracy, loss: score.loss, auc: auc))
                }
                // A model whose standardization is pending is not trained: this round measures
                // the features' moments, with the same clip, noise and masking as a training round.
                if model.measuresMoments {
                    let (vector, count) = try data.momentsContribution(
                        model: model, samplingRate: records?.samplingRate, clipNorm: plan.clipNorm, random: SystemRandom())
                    logger.info(
                        "measured the features' moments for the federation's standardization",
                        metadata: [
                            "round": "\(plan.roundID)", "records": "\(count)",
                            "seconds": "\(String(format: "%.2f", start.secondsElapsed))",
                        ])
                    return vector
                }
                if let records {
                    guard external == nil else {
                        throw TallyError(
                            .invalidArgument,
                            "record-level rounds need per-record clipped gradients, which the daemon computes with its built-in models; this organization runs an external trainer"
                        )
                    }
                    let sum = try data.clippedGradientSum(
                        model: model, samplingRate: records.samplingRate, clipNorm: plan.clipNorm, random: SystemRandom())
                    // What this organization weighs in the step: its expected records over the
                    // public expected batch. Its records' guarantee does not depend on it.
                    let share = records.samplingRate * Double(data.exampleCount) / Double(records.expectedBatchSize)
                    logger.info(
                        "summed the sampled records' clipped gradients",
                        metadata: [
                            "round": "\(plan.roundID)", "records": "\(sum.records)", "clipped": "\(sum.clipped)",
                            "expected_share_of_batch": "\(String(format: "%.4f", share))",
                            "seconds": "\(String(format: "%.2f", start.secondsElapsed))",
                        ])
                    return sum.sum
                }
                guard let external else {
                    let update = try await data.trainer(for: model).update(global: model.parameters, settings: settings)
                    logger.info(
                        "trained locally",
                        metadata: [
                            "round": "\(plan.roundID)", "examples": "\(data.exampleCount)",
                            "seconds": "\(String(format: "%.2f", start.secondsElapsed))",
                        ])
                    return update.map { Double($0) }
                }
                let report = try await ExternalTrainer(settings: external, spec: model.spec, round: plan.roundID)
                    .run(global: model.parameters, settings: settings)
                var metadata: Logger.Metadata = [
                    "round": "\(plan.roundID)", "examples": "\(report.examples)",
                    "seconds": "\(String(format: "%.2f", report.seconds))",
                ]
                for (name, value) in report.metrics { metadata["metric_" + name] = "\(value)" }
                logger.info("trained locally with the external trainer", metadata: metadata)
                if !report.output.isEmpty {
                    logger.info(
                        "external trainer output (last lines)", metadata: ["round": "\(plan.roundID)", "output": "\(report.output)"])
                }
                return report.update.map { Double($0) }
            } catch let error as TallyError {
                await self?.decline(plan.roundID, error)
                throw error
            }
        }
    }

    /// The distributed-DP encoding (clip, rotate, scale, round, this participant's noise share),
    /// packed for masking.
    private static func encode(
        _ update: [Double], noise: [Int64], privacy: DistributedDPConfiguration, layout: SlotLayout,
        rotationSeed: [UInt8], round: UInt64, logger: Logger
    ) throws -> PackedVector {
        let encoder = try DistributedDPEncoder(
            configuration: privacy,
            rotationSeed: DistributedDPConfiguration.rotationSeed(roundBytes: rotationSeed))
        let encoding = try encoder.encode(update, noise: noise, random: SystemRandom())
        logger.info(
            "encoded the update",
            metadata: [
                "round": "\(round)", "update_norm": "\(String(format: "%.4f", encoding.norm))",
                "clipped": "\(encoding.clipped)", "clamped": "\(encoding.clampedCount)",
            ])
        return try encoding.packed(slotWidth: layout.slotWidth)
    }

    private func receiveSecAgg(_ chunk: Tally_V1_SecAggMessage) {
        guard var current = round, current.plan.roundID == chunk.roundID, current.machine != nil else { return }
        do {
            guard let (kind, payload) = try chunk.assemble(into: &current.assembler) else {
                round = current
                return
            }
            round = current
            perform(round!.machine!.receive(kind, payload: payload), round: chunk.roundID)
        } catch {
            leave(chunk.roundID, error)
        }
    }

    private func encoded(round roundID: UInt64, _ vector: PackedVector) {
        guard round?.plan.roundID == roundID, round?.machine != nil else { return }
        perform(round!.machine!.encoded(vector), round: roundID)
    }

    private func delayElapsed(round roundID: UInt64) {
        guard round?.plan.roundID == roundID, round?.machine != nil else { return }
        perform(round!.machine!.delayElapsed(), round: roundID)
    }

    /// Carries out the round's actions in order; stops at the first that fails.
    private func perform(_ actions: [ParticipantRound.Action], round roundID: UInt64) {
        for action in actions {
            guard let current = round, current.plan.roundID == roundID, let machine = current.machine else { return }
            switch action {
            case .send(let kind, let payload):
                if kind == .maskedInput { hooks.beforeMaskedInput(roundID) }
                sendSecAgg(round: roundID, kind: kind, payload: payload)
            case .encode(let seed):
                guard let training = current.training, let noise = current.noise else { continue }
                let (privacy, layout, logger) = (machine.agreement.privacy, machine.agreement.layout, logger)
                round!.encoding = Task.detached(priority: .userInitiated) { [weak self] in
                    do {
                        let vector = try Self.encode(
                            try await training.value, noise: await noise.value, privacy: privacy, layout: layout,
                            rotationSeed: seed, round: roundID, logger: logger)
                        await self?.encoded(round: roundID, vector)
                    } catch is CancellationError {
                    } catch {
                        await self?.leave(roundID, error)
                    }
                }
            case .charge(let entry):
                hooks.beforeMaskedInput(roundID)
                // On the local ledger, synced, before the input can be used.
                do { try budget.record(entry) } catch {
                    leave(roundID, error)
                    return
                }
            case .leave(let error):
                leave(roundID, error)
                return
            }
        }
    }

    private func leave(_ roundID: UInt64, _ error: any Error) {
        guard round?.plan.roundID == roundID else { return }
        logger.warning("refused a round message; leaving the round", metadata: ["round": "\(roundID)", "reason": "\(error)"])
        round?.cancelWork()
        round = nil
    }

    private func sendSecAgg(round: UInt64, kind: MessageKind, payload: [UInt8]) {
        for chunk in Tally_V1_SecAggMessage.chunks(round: round, kind: kind, payload: payload) {
            send(.with { $0.secagg = chunk })
        }
    }
}
