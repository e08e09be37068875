import Foundation
import Logging
import TallyCore
import TallyLedger
import TallyModel
import TallySecAgg
import TallyWire

/// Handles the coordinator's messages for one participant: checks each round plan, receives and
/// verifies the model, trains on local data (concurrently with the key exchange), and drives the
/// secure-aggregation state machine. Only the masked input derived from the data ever leaves.
actor RoundHandler {
    let configuration: ParticipantConfiguration
    let identityKey: SigningPrivateKey
    let trust: FederationTrust
    let data: LocalData
    let budget: BudgetGuard
    var logger: Logger
    let send: @Sendable (Tally_V1_ParticipantMessage) -> Void

    private struct Round {
        let plan: Tally_V1_RoundPlan
        /// When the plan arrived: the masked input leaves no earlier than this plus the plan's delay.
        let arrived = ContinuousClock.now
        var modelAssembler: ChunkAssembler
        var secagg: SecAggParticipant?
        /// Local training: the model update Δ = trained − global.
        var training: Task<[Float], any Error>?
        /// This participant's noise share, drawn while it trains (it depends on the plan only).
        var noise: Task<[Int64], Never>?
        /// The update's distributed-DP encoding, started once the session id (which seeds the
        /// rotation) is known.
        var encoding: Task<PackedVector, any Error>?
        var privacy: DistributedDPConfiguration?
        var layout: SlotLayout?
        var assembler: ChunkAssembler
        var identities: InMemoryIdentityDirectory?
        /// This round's privacy cost, admitted by the budget; recorded before the masked input leaves.
        var cost: LedgerEntry?

        /// Stops the round's background work (training, noise, encoding) when it ends or is left.
        func cancelWork() {
            training?.cancel()
            noise?.cancel()
            encoding?.cancel()
        }
    }
    private var round: Round?

    init(configuration: ParticipantConfiguration, identityKey: SigningPrivateKey, trust: FederationTrust, data: LocalData,
         budget: BudgetGuard, logger: Logger, send: @escaping @Sendable (Tally_V1_ParticipantMessage) -> Void) {
        self.configuration = configuration
        self.identityKey = identityKey
        self.trust = trust
        self.data = data
        self.budget = budget
        self.logger = logger
        self.send = send
    }

    func handle(_ message: Tally_V1_CoordinatorMessage) async {
        switch message.body {
        case .welcome(let welcome):
            logger.info("joined the federation", metadata: ["as": "\(welcome.participantID)"])
        case .plan(let plan):
            startRound(plan)
        case .model(let chunk):
            await receiveModel(chunk)
        case .secagg(let chunk):
            await receiveSecAgg(chunk)
        case .end(let end):
            guard round?.plan.roundID == end.roundID else { return }
            round?.cancelWork()
            round = nil
            if end.released {
                logger.info("round released", metadata: ["round": "\(end.roundID)", "model": "\(Hex.encode(end.newModelHash).prefix(12))"])
            } else {
                logger.info("round aborted by the coordinator; nothing was released", metadata: ["round": "\(end.roundID)", "reason": "\(end.reason)"])
            }
        case nil:
            break
        }
    }

    private func decline(_ roundID: UInt64, _ error: TallyError) {
        logger.warning("declining round", metadata: ["round": "\(roundID)", "reason": "\(error)"])
        send(.with { $0.decline = .with { d in d.roundID = roundID; d.code = error.code.rawValue; d.reason = error.message } })
        if round?.plan.roundID == roundID {
            round?.cancelWork()
            round = nil
        }
    }

    private func startRound(_ plan: Tally_V1_RoundPlan) {
        round?.cancelWork()
        let maxModel = Int(min(plan.compressedModelBytes, UInt64(512 << 20)))
        round = Round(plan: plan, modelAssembler: ChunkAssembler(maxTotalBytes: maxModel),
                      assembler: ChunkAssembler(maxTotalBytes: configuration.maxMessageBytes * 8))
        logger.info("round planned", metadata: ["round": "\(plan.roundID)", "cohort": "\(plan.cohort.count)", "threshold": "\(plan.threshold)"])
    }

    private func receiveModel(_ chunk: Tally_V1_ModelChunk) async {
        guard var current = round, current.plan.roundID == chunk.roundID else { return }
        let plan = current.plan
        do {
            guard let compressed = try current.modelAssembler.add(round: chunk.roundID, kind: 0, index: chunk.index, count: chunk.count, data: [UInt8](chunk.data)) else {
                round = current
                return
            }
            // The model: decompress under a cap, check its hash against the plan and the signed
            // manifest, then train on it — never on anything unverified.
            let manifest = try await ModelManifest.verified(bytes: [UInt8](plan.manifest), signature: [UInt8](plan.manifestSignature), trust: trust)
            let blob = try Zstd.decompress(compressed, maxOutputBytes: 512 << 20)
            let hash = SHA256Digest.hash(blob)
            guard hash == [UInt8](plan.modelHash), Hex.encode(hash) == manifest.modelHash else {
                throw TallyError(.integrityFailure, "the model received does not match the signed manifest")
            }
            let model = try ModelState(safeTensors: try SafeTensors(serialized: blob))
            let me = ParticipantID(try currentID(plan))
            let configurationForRound = try await secAggConfiguration(plan, model: model, me: me)
            // Benchmark-only plans are refused unless this daemon was configured for benchmarks.
            let privacy = configurationForRound.2
            let benchmarkOnly = plan.insecureUnmasked || privacy.noise == nil
            if benchmarkOnly && !configuration.allowInsecureBenchmarkRounds {
                throw TallyError(.permissionDenied, "the plan asks for an update \(plan.insecureUnmasked ? "without masking" : "without noise"); this daemon only allows that with allowInsecureBenchmarkRounds")
            }
            // The budget first: a round that would overspend is declined before any work.
            // Charged at the plan's guarantee: t − c honest shares, whoever else survives. A
            // benchmark round without masking shows the coordinator this participant's input with
            // its own share alone: charged as no protection at all (ε = ∞).
            let guaranteed = plan.insecureUnmasked ? 0 : privacy.guaranteedShares
            let cost = LedgerEntry(roundID: plan.roundID, modelVersion: nil, modelHash: Hex.encode(plan.modelHash),
                                   participants: [me.rawValue], noiseShares: guaranteed, privacy: privacy,
                                   recordedAt: Date().timeIntervalSince1970)
            let epsilonAfter: Double
            if plan.insecureUnmasked {
                logger.warning("round runs WITHOUT secure aggregation (benchmark mode): charged as ε = ∞", metadata: ["round": "\(plan.roundID)"])
                epsilonAfter = .infinity
                current.cost = cost
            } else if privacy.noise == nil {
                // Benchmark round without noise (allowed above only for a daemon configured for
                // benchmarks, whose data is not private): nothing is charged, the log says so.
                logger.warning("round runs WITHOUT differential privacy noise (benchmark mode)", metadata: ["round": "\(plan.roundID)"])
                epsilonAfter = try budget.spent()
            } else {
                epsilonAfter = try budget.admit(cost)
                current.cost = cost
            }
            let training = makeTraining(plan: plan, model: model)
            current.training = training
            let noise = Task.detached(priority: .userInitiated) { privacy.sampleNoiseShare(random: SystemRandom()) }
            current.noise = noise
            current.privacy = privacy
            current.layout = configurationForRound.0.layout
            if plan.insecureUnmasked {
                // Benchmark-only mode set by the coordinator: no masking at all, so no session;
                // the rotation is seeded from the plan.
                round = current
                let input = try Self.encode(try await training.value, noise: await noise.value, privacy: privacy, layout: configurationForRound.0.layout,
                                                  rotationSeed: [UInt8](plan.planDigest), round: plan.roundID, logger: logger)
                if let cost = current.cost { try budget.record(cost) }
                let session = try SessionID(bytes: [UInt8](repeating: 0, count: 32))
                sendSecAgg(round: plan.roundID, kind: .maskedInput,
                           payload: MaskedInput(roundID: plan.roundID, session: session, sender: me, vector: input).serialized())
                return
            }
            current.identities = configurationForRound.1
            current.secagg = try SecAggParticipant(id: me, configuration: configurationForRound.0,
                                                   identityKey: identityKey, identities: configurationForRound.1)
            let advertisement = try current.secagg!.advertiseKeys()
            round = current
            sendSecAgg(round: plan.roundID, kind: .keyAdvertisement, payload: advertisement.serialized())
            logger.info("model verified; training and advertising keys", metadata: [
                "round": "\(plan.roundID)", "version": "\(manifest.version)", "noise_multiplier": "\(String(format: "%.3f", plan.noiseMultiplier))",
                "epsilon_after_round": "\(String(format: "%.3f", epsilonAfter))", "epsilon_budget": "\(budget.budget.epsilon)",
            ])
        } catch let error as TallyError {
            decline(chunk.roundID, error)
        } catch {
            decline(chunk.roundID, TallyError(.malformedMessage, "\(error)"))
        }
    }

    /// The participant's own id is whatever its certificate says; the plan must include it.
    private func currentID(_ plan: Tally_V1_RoundPlan) throws(TallyError) -> UInt32 {
        guard let own = try? PeerIdentity(certificate: .init(pemEncoded: FederationTrust.readPEM(configuration.tls.certificate, what: "certificate"))),
              case .participant(let id) = own else {
            throw TallyError(.permissionDenied, "this daemon's certificate is not a participant certificate")
        }
        guard plan.cohort.contains(id.rawValue) else { throw TallyError(.notInCohort, "round plan does not include this participant") }
        return id.rawValue
    }

    /// Checks the plan and turns it into the secure-aggregation configuration plus the cohort's
    /// identity keys (each certificate verified against the CA and matched to its cohort id).
    private func secAggConfiguration(_ plan: Tally_V1_RoundPlan, model: ModelState, me: ParticipantID) async throws(TallyError)
        -> (SecAggConfiguration, InMemoryIdentityDirectory, DistributedDPConfiguration) {
        var unsigned = plan
        unsigned.planDigest = Data()
        let unsignedBytes: [UInt8]
        do { unsignedBytes = try unsigned.serializedBytes() } catch { throw TallyError(.malformedMessage, "round plan cannot be encoded") }
        guard SHA256Digest.hash(unsignedBytes) == [UInt8](plan.planDigest) else {
            throw TallyError(.integrityFailure, "round plan digest does not match its contents")
        }
        let n = plan.cohort.count
        guard plan.cohortCertificates.count == n, n >= 2, n <= SecAggConfiguration.maxCohort else {
            throw TallyError(.malformedMessage, "round plan has \(n) cohort members and \(plan.cohortCertificates.count) certificates")
        }
        let valueBits = Int(plan.valueBits)
        guard (2...30).contains(valueBits), Int(plan.slotWidth) == SlotLayout.headroomWidth(valueBits: valueBits, summands: n) else {
            throw TallyError(.invalidArgument, "round plan's slot width \(plan.slotWidth) does not give \(valueBits)-bit values headroom for \(n) summands")
        }
        // The DP encoding follows from the plan's fields; the coordinator derived the same one.
        let privacy = try DistributedDPConfiguration(
            parameterCount: model.parameterCount, clipNorm: plan.clipNorm, noiseMultiplier: plan.noiseMultiplier,
            valueBits: valueBits, threshold: Int(plan.threshold), collusionMargin: Int(plan.collusionMargin), cohortSize: n)
        guard plan.dimension == UInt64(privacy.dimension) else {
            throw TallyError(.sizeMismatch, "round plan dimension \(plan.dimension) does not fit the model's encoding (\(privacy.dimension))")
        }
        var keys: [ParticipantID: SigningPublicKey] = [:]
        var fingerprints: [ParticipantID: String] = [:]
        for (id, pemData) in zip(plan.cohort, plan.cohortCertificates) {
            guard pemData.count <= 16 << 10 else { throw TallyError(.sizeLimitExceeded, "cohort certificate over 16 KiB") }
            let pem = String(decoding: pemData, as: UTF8.self)
            let (identity, key) = try await trust.verify(pem: pem)
            guard identity == .participant(ParticipantID(id)) else {
                throw TallyError(.permissionDenied, "the certificate given for participant \(id) belongs to \(identity)")
            }
            keys[ParticipantID(id)] = key
            fingerprints[ParticipantID(id)] = try CertificateFingerprint.sha256(pem: pem)
        }
        let graph: NeighbourGraph.Kind = plan.neighbourDegree == 0 ? .complete : .harary(degree: Int(plan.neighbourDegree))
        let configuration = try SecAggConfiguration(
            roundID: plan.roundID, cohort: plan.cohort.map { ParticipantID($0) }, threshold: Int(plan.threshold),
            collusionMargin: Int(plan.collusionMargin),
            layout: try SlotLayout(slotWidth: Int(plan.slotWidth), count: Int(plan.dimension)), graph: graph,
            planDigest: [UInt8](plan.planDigest))
        // This organization's own minimums, whatever the coordinator planned.
        try self.configuration.roundRequirements.check(configuration, fingerprints: fingerprints, own: me)
        return (configuration, InMemoryIdentityDirectory(keys: keys), privacy)
    }

    /// Local training, off the actor: Δ = trained − global.
    private func makeTraining(plan: Tally_V1_RoundPlan, model: ModelState) -> Task<[Float], any Error> {
        let data = self.data
        let logger = self.logger
        return Task.detached(priority: .userInitiated) {
            let start = ContinuousClock.now
            let update = try await data.trainer.update(global: model.parameters, settings: TrainingSettings(plan.training))
            logger.info("trained locally", metadata: [
                "round": "\(plan.roundID)", "examples": "\(data.exampleCount)",
                "seconds": "\(String(format: "%.2f", Double((ContinuousClock.now - start).components.attoseconds) * 1e-18 + Double((ContinuousClock.now - start).components.seconds)))",
            ])
            return update
        }
    }

    /// The distributed-DP encoding (clip, rotate, scale, round, this participant's noise share),
    /// packed for masking.
    private static func encode(_ update: [Float], noise: [Int64], privacy: DistributedDPConfiguration, layout: SlotLayout,
                               rotationSeed: [UInt8], round: UInt64, logger: Logger) throws -> PackedVector {
        let encoder = try DistributedDPEncoder(configuration: privacy,
                                               rotationSeed: DistributedDPConfiguration.rotationSeed(roundBytes: rotationSeed))
        let encoding = try encoder.encode(update, noise: noise, random: SystemRandom())
        logger.info("encoded the update", metadata: [
            "round": "\(round)", "update_norm": "\(String(format: "%.4f", encoding.norm))",
            "clipped": "\(encoding.clipped)", "clamped": "\(encoding.clampedCount)",
        ])
        return try encoding.packed(slotWidth: layout.slotWidth)
    }

    private func receiveSecAgg(_ chunk: Tally_V1_SecAggMessage) async {
        guard var current = round, current.plan.roundID == chunk.roundID, current.secagg != nil else { return }
        do {
            guard let (kind, payload) = try chunk.assemble(into: &current.assembler) else {
                round = current
                return
            }
            round = current
            switch kind {
            case .keyDirectory:
                let shares = try round!.secagg!.shareKeys(KeyDirectory(serialized: payload))
                sendSecAgg(round: chunk.roundID, kind: .encryptedShares, payload: shares.serialized())
                // The session id is fixed only now, after every key was committed: the rotation
                // derives from it, so the coordinator cannot choose it through the plan.
                if let training = round!.training, let noise = round!.noise, let privacy = round!.privacy, let layout = round!.layout,
                   let session = round!.secagg!.session {
                    let logger = self.logger
                    round!.encoding = Task.detached(priority: .userInitiated) {
                        try Self.encode(try await training.value, noise: await noise.value, privacy: privacy, layout: layout,
                                        rotationSeed: session.bytes, round: chunk.roundID, logger: logger)
                    }
                }
            case .shareDelivery:
                let delivery = try ShareDelivery(serialized: payload)
                guard let encoding = round?.encoding, let arrived = round?.arrived else {
                    throw TallyError(.unexpectedMessage, "share delivery before the key directory")
                }
                let input = try await encoding.value
                // Not before the plan's delay: when the input leaves must not depend on the data.
                try await Task.sleep(until: arrived + .milliseconds(Int64(min(round?.plan.maskedInputDelayMs ?? 0, 3_600_000))))
                // The round may have ended while training finished.
                guard round?.plan.roundID == chunk.roundID else { return }
                if FaultInjection.current == .exitBeforeMaskedInput {
                    logger.warning("fault injection: exiting before sending the masked input")
                    exit(86)
                }
                // The cost goes on the local ledger (synced) before the input can be used.
                if let cost = round?.cost { try budget.record(cost) }
                let masked = try round!.secagg!.maskInput(delivery, input: input)
                sendSecAgg(round: chunk.roundID, kind: .maskedInput, payload: masked.serialized())
            case .consistencyRequest:
                let signature = try round!.secagg!.checkConsistency(ConsistencyRequest(serialized: payload))
                sendSecAgg(round: chunk.roundID, kind: .consistencySignature, payload: signature.serialized())
            case .unmaskRequest:
                let response = try round!.secagg!.unmask(UnmaskRequest(serialized: payload))
                sendSecAgg(round: chunk.roundID, kind: .unmaskResponse, payload: response.serialized())
            default:
                throw TallyError(.unexpectedMessage, "the coordinator sent a participant-only message (\(kind))")
            }
        } catch {
            logger.warning("refused a round message; leaving the round", metadata: ["round": "\(chunk.roundID)", "reason": "\(error)"])
            round?.cancelWork()
            round = nil
        }
    }

    private func sendSecAgg(round: UInt64, kind: MessageKind, payload: [UInt8]) {
        for chunk in Tally_V1_SecAggMessage.chunks(round: round, kind: kind, payload: payload) {
            send(.with { $0.secagg = chunk })
        }
    }
}

/// Test-only faults, chosen with the TALLY_FAULT_INJECTION environment variable, so that the
/// multi-process tests can make a participant vanish at an exact protocol step. Unset in
/// production; a value the daemon does not know is ignored.
enum FaultInjection: String {
    case exitBeforeMaskedInput = "exit-before-masked-input"

    static let current = ProcessInfo.processInfo.environment["TALLY_FAULT_INJECTION"].flatMap(FaultInjection.init(rawValue:))
}
