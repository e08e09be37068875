import Foundation
import Logging
import Metrics
import ServiceLifecycle
import TallyCore
import TallyLedger
import TallyModel
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
    var logger: Logger
    /// z of every round, resolved from the privacy settings when the service starts.
    private var noiseMultiplier = 0.0

    private var live: LiveRound?
    public private(set) var releasedRounds = 0

    public init(configuration: CoordinatorConfiguration, store: CoordinatorStore, registry: ModelRegistry,
                sessions: ParticipantSessions, signingKey: SigningPrivateKey, certificatePEM: String,
                evaluation: Dataset?, ledger: PrivacyLedger, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.registry = registry
        self.sessions = sessions
        self.signingKey = signingKey
        self.certificatePEM = certificatePEM
        self.evaluation = evaluation
        self.ledger = ledger
        self.logger = logger
    }

    // MARK: Incoming

    func receive(from id: ParticipantID, _ message: Tally_V1_ParticipantMessage) {
        guard live != nil, live!.cohort.contains(id) else { return }
        switch message.body {
        case .decline(let decline) where decline.roundID == live!.id:
            logger.info("participant declined the round", metadata: ["participant": "\(id.rawValue)", "code": "\(decline.code)", "reason": "\(decline.reason)"])
            live!.gone.insert(id)
            if decline.code == TallyError.Code.privacyBudgetExhausted.rawValue {
                // It will decline every later round too: stop scheduling it until it reconnects.
                Task { await sessions.markBudgetExhausted(id) }
            }
        case .secagg(let chunk) where chunk.roundID == live!.id:
            live!.bytesReceived += chunk.data.count
            Counter(label: "tally_bytes_received_total").increment(by: chunk.data.count)
            var assembler = live!.assemblers[id] ?? ChunkAssembler(maxTotalBytes: live!.maxPayloadBytes)
            do {
                if let (kind, payload) = try chunk.assemble(into: &assembler) {
                    try live!.deliver(kind: kind, payload: payload, from: id)
                }
                live!.assemblers[id] = assembler
            } catch {
                live!.assemblers[id] = nil
                logger.warning("refused a message", metadata: ["participant": "\(id.rawValue)", "reason": "\(error)"])
            }
        default:
            logger.debug("ignored a message for another round", metadata: ["participant": "\(id.rawValue)"])
        }
    }

    func disconnected(_ id: ParticipantID) {
        if live?.cohort.contains(id) == true { live!.gone.insert(id) }
    }

    // MARK: Service

    public func run() async throws {
        await sessions.onDisconnect { [weak self] id in await self?.disconnected(id) }
        let aborted = try store.abortInFlightRounds()
        if !aborted.isEmpty {
            logger.warning("aborted rounds left running by a previous process; nothing of them was released", metadata: ["rounds": "\(aborted)"])
        }
        noiseMultiplier = try configuration.privacy.resolvedNoiseMultiplier(rounds: configuration.rounds)
        if noiseMultiplier == 0 {
            logger.warning("differential privacy is OFF (noise multiplier 0): released models are not private")
        } else {
            logger.info("differential privacy", metadata: [
                "noise_multiplier": "\(String(format: "%.4f", noiseMultiplier))", "clip_norm": "\(configuration.clipNorm)",
                "target": "\(configuration.privacy.noiseMultiplier == nil ? "ε=\(configuration.privacy.targetEpsilon ?? 0), δ=\(configuration.privacy.delta) over \(configuration.rounds) rounds" : "explicit z")",
            ])
        }
        let (model, version) = try currentModel()
        logger.info("coordinator ready", metadata: ["version": "\(version.version)", "model": "\(version.modelHash.prefix(12))"])
        do {
            try await cancelWhenGracefulShutdown { try await self.schedule(model: model, version: version) }
        } catch is CancellationError {
            // Graceful shutdown: a round in flight was abandoned; it is aborted at next start-up.
        }
        logger.info("stopped", metadata: ["released_rounds": "\(releasedRounds)"])
    }

    /// Starts a round whenever enough participants are connected, until the configured number of
    /// rounds has been released.
    private func schedule(model: ModelState, version: CoordinatorStore.VersionRecord) async throws {
        var (model, version) = (model, version)
        var lastWaitLog = ContinuousClock.now - .seconds(60)
        while configuration.rounds == 0 || releasedRounds < configuration.rounds {
            try await Task.sleep(for: .seconds(configuration.roundIntervalSeconds))
            let eligible = await sessions.eligible()
            guard eligible.count >= configuration.minParticipants else {
                if ContinuousClock.now - lastWaitLog > .seconds(5) {
                    logger.info("waiting for participants", metadata: ["connected": "\(eligible.count)", "needed": "\(configuration.minParticipants)"])
                    lastWaitLog = ContinuousClock.now
                }
                continue
            }
            var generator = SystemRandomNumberGenerator()
            let cohort = Array(eligible.shuffled(using: &generator).prefix(configuration.maxCohort)).sorted()
            do {
                (model, version) = try await runRound(cohort: cohort, model: model, version: version)
                releasedRounds += 1
            } catch {
                logger.warning("round aborted; nothing released", metadata: ["reason": "\(error)"])
            }
        }
        logger.info("all rounds done", metadata: ["released": "\(releasedRounds)"])
    }

    /// The latest published model, or a fresh all-zero one published as version 0.
    private func currentModel() throws -> (ModelState, CoordinatorStore.VersionRecord) {
        if let latest = try store.latestVersion() {
            return (try ModelState(safeTensors: try SafeTensors(serialized: try registry.blob(hash: latest.modelHash))), latest)
        }
        let model = ModelState.initial(syntheticDimension: configuration.syntheticDimension)
        let record = try publish(model: model, blob: try model.safeTensors().serialized(), parent: nil, roundID: nil, cohortSize: 0, contributors: 0)
        try store.insertVersion(record)
        return (model, record)
    }

    /// Writes blob (`model` serialized as safetensors) and signed manifest; the caller makes it
    /// visible by committing the record.
    private func publish(model: ModelState, blob: [UInt8], parent: Int64?, roundID: Int64?, cohortSize: Int, contributors: Int) throws -> CoordinatorStore.VersionRecord {
        let hash = try registry.storeBlob(blob)
        var metrics: [String: Double] = [:]
        if let evaluation, let accuracy = try model.accuracy(on: evaluation) { metrics["test_accuracy"] = accuracy }
        let version = (parent ?? -1) + 1
        let manifest = ModelManifest(version: version, parent: parent, roundID: roundID, modelHash: hash, cohortSize: cohortSize,
                                     contributors: contributors, training: configuration.training, metrics: metrics,
                                     createdAt: Date(), coordinatorCertificate: certificatePEM)
        let bytes = try manifest.canonicalBytes()
        let signature = try signingKey.signature(for: bytes)
        try registry.storeManifest(version: version, manifest: bytes, signature: signature)
        return CoordinatorStore.VersionRecord(version: version, modelHash: hash, parent: parent, roundID: roundID,
                                              createdAt: Date().timeIntervalSince1970, manifest: bytes, signature: signature,
                                              accuracy: metrics["test_accuracy"])
    }

    // MARK: One round

    private func runRound(cohort chosen: [ParticipantID], model: ModelState, version: CoordinatorStore.VersionRecord) async throws
        -> (ModelState, CoordinatorStore.VersionRecord) {
        let started = ContinuousClock.now
        // Only members still connected (with a certificate to show the others) are planned: one
        // that left between scheduling and planning would make every participant decline.
        let certificates = await sessions.certificates(for: chosen)
        let cohort = chosen.filter { certificates[$0] != nil }
        guard cohort.count >= configuration.minParticipants else {
            throw TallyError(.belowThreshold, "cohort dissolved before the round started")
        }
        let roundID = try store.nextRoundID()
        let n = cohort.count
        let parameterCount = model.parameterCount
        let collusionMargin = configuration.collusionMargin
        var graph = NeighbourGraph.Kind.complete
        var threshold = SecAggConfiguration.minimumThreshold(neighbourhood: n, collusionMargin: collusionMargin)
        if n >= 200 {
            let choice = try SecAggPlusParameters.choose(cohortSize: n, dropoutRate: configuration.dropoutRate, corruptionRate: configuration.corruptionRate)
            let m = choice.graph.neighbourhoodSize(cohortSize: n)
            (graph, threshold) = (choice.graph, max(choice.threshold, SecAggConfiguration.minimumThreshold(neighbourhood: m, collusionMargin: collusionMargin)))
        }
        // Every participant derives the same encoding from the plan's fields.
        let privacy = try DistributedDPConfiguration(parameterCount: parameterCount, clipNorm: configuration.clipNorm,
                                                     noiseMultiplier: noiseMultiplier, valueBits: configuration.valueBits,
                                                     threshold: threshold, collusionMargin: collusionMargin, cohortSize: n)
        let layout = try SlotLayout(slotWidth: SlotLayout.headroomWidth(valueBits: configuration.valueBits, summands: n),
                                    count: privacy.dimension)
        let compressed = try registry.compressedBlob(hash: version.modelHash)

        var plan = Tally_V1_RoundPlan()
        plan.roundID = UInt64(roundID)
        plan.modelHash = Data(Hex.decode(version.modelHash) ?? [])
        plan.manifest = Data(version.manifest)
        plan.manifestSignature = Data(version.signature)
        plan.training = .with {
            $0.localEpochs = UInt32(configuration.training.localEpochs)
            $0.batchSize = UInt32(configuration.training.batchSize)
            $0.learningRate = configuration.training.learningRate
            $0.seed = configuration.training.seed &+ UInt64(roundID)
        }
        plan.cohort = cohort.map(\.rawValue)
        plan.threshold = UInt32(threshold)
        plan.collusionMargin = UInt32(collusionMargin)
        plan.maskedInputDelayMs = configuration.insecureDisableMasking ? 0 : UInt64(configuration.maskedInputDelaySeconds * 1000)
        plan.valueBits = UInt32(configuration.valueBits)
        plan.slotWidth = UInt32(layout.slotWidth)
        plan.dimension = UInt64(layout.count)
        if case .harary(let k) = graph { plan.neighbourDegree = UInt32(k) }
        plan.clipNorm = configuration.clipNorm
        plan.noiseMultiplier = noiseMultiplier
        plan.stageTimeoutMs = UInt64(configuration.stageTimeoutSeconds * 1000)
        plan.compressedModelBytes = UInt64(compressed.count)
        plan.cohortCertificates = cohort.map { Data(certificates[$0]!.pem.utf8) }
        plan.insecureUnmasked = configuration.insecureDisableMasking
        plan.planDigest = Data(SHA256Digest.hash(try plan.serializedBytes() as [UInt8]))

        let secagg = try SecAggConfiguration(roundID: UInt64(roundID), cohort: cohort, threshold: threshold, collusionMargin: collusionMargin,
                                             layout: layout, graph: graph, planDigest: [UInt8](plan.planDigest))
        let identities = InMemoryIdentityDirectory(keys: certificates.mapValues(\.key))
        try store.beginRound(id: roundID, cohort: n)
        live = LiveRound(id: UInt64(roundID), cohort: Set(cohort), layout: layout,
                         coordinator: try SecAggCoordinator(configuration: secagg, identities: identities),
                         unmasked: configuration.insecureDisableMasking, plainSum: PackedVector(zeros: layout))
        var log = logger
        log[metadataKey: "round"] = "\(roundID)"
        log.info("round started", metadata: ["cohort": "\(n)", "threshold": "\(threshold)", "dimension": "\(layout.count)", "slot_bits": "\(layout.slotWidth)"])
        defer { live = nil }
        // Set once the coordinator holds the unmasked sum: from then on whatever it learned is
        // charged to the ledger, whether or not the round goes on to publish.
        var learned: (participants: [UInt32], noiseShares: Int)?
        var charged = false

        do {
            // Plan and model.
            let modelChunks = MessageChunking.split(compressed).enumerated().map { i, piece in
                Tally_V1_CoordinatorMessage.with { m in
                    m.model = .with { $0.roundID = UInt64(roundID); $0.index = UInt32(i); $0.count = UInt32(MessageChunking.split(compressed).count); $0.data = Data(piece) }
                }
            }
            for id in cohort {
                await sessions.send(.with { $0.plan = plan }, to: id)
                await sessions.send(modelChunks, to: id)
            }
            let timeout = Duration.milliseconds(Int64(configuration.stageTimeoutSeconds * 1000))
            let sum: PackedVector
            let contributors: [ParticipantID]
            // The rotation's seed: the session id, fixed only after every participant committed
            // its keys (the plan digest when there is no key exchange, in benchmark rounds).
            var rotationBytes = [UInt8](plan.planDigest)
            if configuration.insecureDisableMasking {
                // Benchmark-only: the same round without secure aggregation.
                try await waitForStage("plain-inputs", timeout: timeout)
                contributors = live!.plainContributors.sorted()
                guard contributors.count >= threshold else { throw TallyError(.belowThreshold, "only \(contributors.count) inputs") }
                sum = live!.plainSum
            } else {
                let result = try await secureAggregation(roundID: roundID, timeout: timeout)
                (sum, contributors) = (result.sum, result.contributors)
                rotationBytes = result.session.bytes
            }
            // Noise shares proven present: up to c of the counted inputs may be colluders that
            // added none; without masking each input was seen on its own (ε = ∞).
            let provenShares = configuration.insecureDisableMasking ? 0 : contributors.count - collusionMargin
            let counted = (participants: contributors.map(\.rawValue).sorted(), noiseShares: provenShares)
            learned = counted
            if CoordinatorFaultInjection.current == .abortAfterUnmask, roundID == 1 {
                throw TallyError(.integrityFailure, "fault injection: aborting after the sum was unmasked")
            }

            // Decode Σ clip(Δ_i) + noise and average over the m contributors (a public count: equal
            // weights, as participant-level DP-FedAvg needs; data sizes would leak through weights).
            let decoder = try DistributedDPDecoder(configuration: privacy,
                                                   rotationSeed: DistributedDPConfiguration.rotationSeed(roundBytes: rotationBytes))
            let decoded = try decoder.decodeSum(sum, contributors: contributors.count)
            if decoded.overflowSuspected > 0 {
                log.warning("coordinates of the sum probably overflowed their slots (accuracy only, no privacy cost)",
                            metadata: ["coordinates": "\(decoded.overflowSuspected)"])
            }
            let sums = decoded.values
            let m = Double(contributors.count)
            let parameters = try FederatedAveraging().aggregate(global: model.parameters, meanUpdate: sums.map { Float($0 / m) })
            let newModel = ModelState(kind: model.kind, parameters: parameters)
            let blob = try newModel.safeTensors().serialized()
            // The privacy cost is on disk, signed and synced, before anything is published.
            try ledger.append(LedgerEntry(
                roundID: UInt64(roundID), modelVersion: version.version + 1, modelHash: Hex.encode(SHA256Digest.hash(blob)),
                participants: counted.participants, noiseShares: counted.noiseShares, privacy: privacy,
                recordedAt: Date().timeIntervalSince1970))
            charged = true
            if CoordinatorFaultInjection.current == .exitAfterLedgerAppend {
                log.warning("fault injection: exiting between the ledger entry and publication")
                exit(87)
            }
            let record = try publish(model: newModel, blob: blob, parent: version.version, roundID: roundID, cohortSize: n,
                                     contributors: contributors.count)
            try store.releaseRound(id: roundID, contributors: contributors.count, dropped: n - contributors.count, version: record)
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) * 1e-18 + Double((ContinuousClock.now - started).components.seconds)
            Counter(label: "tally_rounds_total", dimensions: [("outcome", "released")]).increment()
            Counter(label: "tally_dropouts_total").increment(by: n - contributors.count)
            Timer(label: "tally_round_seconds").recordSeconds(seconds)
            log.info("round released", metadata: [
                "version": "\(record.version)", "contributors": "\(contributors.count)", "cohort": "\(n)",
                "dropped": "\(n - contributors.count)", "noise_multiplier": "\(String(format: "%.3f", privacy.effectiveNoiseMultiplier(shares: provenShares)))", "accuracy": "\(record.accuracy.map { String(format: "%.4f", $0) } ?? "-")",
                "seconds": "\(String(format: "%.2f", seconds))",
            ])
            let end = Tally_V1_CoordinatorMessage.with { $0.end = .with { e in e.roundID = UInt64(roundID); e.released = true; e.newModelHash = Data(Hex.decode(record.modelHash) ?? []) } }
            for id in cohort { await sessions.send(end, to: id) }
            return (newModel, record)
        } catch {
            let reason = "\(error)"
            if let learned, !charged {
                // Aborted after unmasking: nothing is published, but the sum was seen. Charged
                // against the base model, with no version.
                do {
                    try ledger.append(LedgerEntry(
                        roundID: UInt64(roundID), modelVersion: nil, modelHash: version.modelHash,
                        participants: learned.participants, noiseShares: learned.noiseShares, privacy: privacy,
                        recordedAt: Date().timeIntervalSince1970))
                    log.warning("round aborted after the sum was unmasked; its privacy cost is in the ledger", metadata: ["reason": "\(reason)"])
                } catch let ledgerError {
                    log.critical("round aborted after unmasking and its privacy cost could not be written", metadata: ["reason": "\(ledgerError)"])
                }
            }
            try? store.abortRound(id: roundID, reason: reason)
            Counter(label: "tally_rounds_total", dimensions: [("outcome", "aborted")]).increment()
            let end = Tally_V1_CoordinatorMessage.with { $0.end = .with { e in e.roundID = UInt64(roundID); e.released = false; e.reason = reason } }
            for id in cohort { await sessions.send(end, to: id) }
            throw error
        }
    }

    /// The five secure-aggregation stages (keys, shares, masked inputs, consistency check, unmask),
    /// each closed when every expected message is in or at
    /// its deadline, with the stage recorded durably before the next begins.
    private func secureAggregation(roundID: Int64, timeout: Duration) async throws -> AggregationResult {
        // Stage 1 → 2
        try await waitForStage("keys", timeout: timeout)
        let directory = try live!.coordinator.closeKeyAdvertisement()
        try store.setStage(round: roundID, "sharing")
        let directoryChunks = Self.chunks(round: UInt64(roundID), kind: .keyDirectory, payload: directory.serialized())
        for entry in directory.entries { await sessions.send(directoryChunks, to: entry.sender) }
        // Stage 2 → 3
        try await waitForStage("shares", timeout: timeout)
        let deliveries = try live!.coordinator.closeShareKeys()
        try store.setStage(round: roundID, "masking")
        for delivery in deliveries {
            await sessions.send(Self.chunks(round: UInt64(roundID), kind: .shareDelivery, payload: delivery.serialized()), to: delivery.recipient)
        }
        // Stage 3 → 4a: each survivor checks and signs the survivor lists.
        try await waitForStage("masked-inputs", timeout: timeout)
        let consistency = try live!.coordinator.closeMaskedInput()
        try store.setStage(round: roundID, "consistency")
        for request in consistency {
            await sessions.send(Self.chunks(round: UInt64(roundID), kind: .consistencyRequest, payload: request.serialized()), to: request.recipient)
        }
        // Stage 4a → 4b: the signatures go to every signer, who checks t of them before revealing.
        try await waitForStage("consistency", timeout: timeout)
        let request = try live!.coordinator.closeConsistencyCheck()
        try store.setStage(round: roundID, "unmasking")
        let requestChunks = Self.chunks(round: UInt64(roundID), kind: .unmaskRequest, payload: request.serialized())
        for id in request.signers { await sessions.send(requestChunks, to: id) }
        // Stage 4b → result
        try await waitForStage("unmask", timeout: timeout)
        return try live!.coordinator.finish()
    }

    /// Waits until every expected message of the stage is in, or the deadline passes.
    private func waitForStage(_ name: String, timeout: Duration) async throws {
        let start = ContinuousClock.now
        let deadline = start + timeout
        while ContinuousClock.now < deadline, let round = live, !round.outstanding.isEmpty {
            try await Task.sleep(for: .milliseconds(2))
        }
        Timer(label: "tally_stage_seconds", dimensions: [("stage", name)]).recordNanoseconds(Int64((ContinuousClock.now - start).components.attoseconds / 1_000_000_000) + (ContinuousClock.now - start).components.seconds * 1_000_000_000)
    }

    static func chunks(round: UInt64, kind: MessageKind, payload: [UInt8]) -> [Tally_V1_CoordinatorMessage] {
        Tally_V1_SecAggMessage.chunks(round: round, kind: kind, payload: payload).map { chunk in .with { $0.secagg = chunk } }
    }
}
