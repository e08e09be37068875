public import TallyCore

/// Runs a whole secure-aggregation round in one process: every participant's state machine and
/// the coordinator's, with every message passed through its wire encoding, dropouts injected at
/// chosen stages, and time and bytes accounted per party. Tests use it for exhaustive checks;
/// `tally-bench secagg` uses it for scale.
public struct RoundSimulator: Sendable {
    /// Where a participant vanishes: it sends nothing from that stage on.
    public enum DropStage: Int, Sendable, Hashable, CaseIterable, Comparable {
        case beforeAdvertisingKeys, beforeSharingKeys, beforeMaskedInput, beforeConsistencyCheck, beforeUnmasking
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Party: Sendable {
        public let id: ParticipantID
        public let identityKey: SigningPrivateKey
    }

    /// Per-participant measurements.
    public struct ParticipantReport: Sendable {
        public var seconds: [String: Double] = [:]
        public var bytesSent = 0
        public var bytesReceived = 0
    }

    public struct Outcome: Sendable {
        /// The sum, or the error the round aborted with.
        public let result: Result<AggregationResult, TallyError>
        public let participants: [ParticipantID: ParticipantReport]
        public let coordinatorSeconds: [String: Double]
        /// Errors participants hit (aborts and refusals), by participant.
        public let participantErrors: [ParticipantID: TallyError]
    }

    public let configuration: SecAggConfiguration
    public let parties: [Party]
    public let identities: InMemoryIdentityDirectory
    /// Seed for reproducible participant randomness; nil uses the system generator.
    public let seed: [UInt8]?

    /// A test PKI: one identity key per cohort member.
    public init(configuration: SecAggConfiguration, algorithm: SigningPrivateKey.Algorithm = .ed25519, seed: [UInt8]? = nil)
        throws(TallyError)
    {
        var parties: [Party] = []
        var keys: [ParticipantID: SigningPublicKey] = [:]
        for id in configuration.cohort {
            let key = try SigningPrivateKey(generating: algorithm)
            parties.append(Party(id: id, identityKey: key))
            keys[id] = key.publicKey
        }
        self.configuration = configuration
        self.parties = parties
        self.identities = InMemoryIdentityDirectory(keys: keys)
        self.seed = seed
    }

    /// Runs the round. `input(id)` gives each participant's packed input; `drops` says who
    /// vanishes where. Participants run `parallelism` at a time.
    public func run(
        input: @escaping @Sendable (ParticipantID) -> PackedVector,
        drops: [ParticipantID: DropStage] = [:],
        parallelism: Int = 2
    ) async -> Outcome {
        var reports = Dictionary(uniqueKeysWithValues: parties.map { ($0.id, ParticipantReport()) })
        var errors: [ParticipantID: TallyError] = [:]
        var coordinatorSeconds: [String: Double] = [:]
        let layout = configuration.layout

        func alive(_ id: ParticipantID, at stage: DropStage) -> Bool {
            guard let d = drops[id] else { return true }
            return stage < d
        }

        var participants: [ParticipantID: SecAggParticipant] = [:]
        for party in parties {
            let randomness: RandomnessSource =
                seed.map { .seeded($0 + withUnsafeBytes(of: party.id.rawValue.bigEndian) { Array($0) }) } ?? .system
            participants[party.id] = try! SecAggParticipant(
                id: party.id, configuration: configuration, identityKey: party.identityKey,
                identities: identities, randomness: randomness)
        }
        var coordinator: SecAggCoordinator
        do { coordinator = try SecAggCoordinator(configuration: configuration, identities: identities) } catch {
            return Outcome(result: .failure(error), participants: reports, coordinatorSeconds: [:], participantErrors: [:])
        }

        // One stage for a set of participants, in parallel: each task owns its participant.
        func stage(
            _ name: String, _ ids: [ParticipantID],
            _ step: @escaping @Sendable (inout SecAggParticipant) throws(TallyError) -> [UInt8]
        ) async -> [(ParticipantID, [UInt8])] {
            var outputs: [(ParticipantID, [UInt8])] = []
            await withTaskGroup(of: (ParticipantID, SecAggParticipant, Result<[UInt8], TallyError>, Double).self) { group in
                var pending = ids[...]
                func launch() {
                    guard let id = pending.popFirst(), let p = participants[id] else { return }
                    group.addTask {
                        var participant = p
                        let start = ContinuousClock.now
                        let result = Result<[UInt8], TallyError> { () throws(TallyError) in try step(&participant) }
                        return (id, participant, result, seconds(since: start))
                    }
                }
                for _ in 0..<max(1, parallelism) { launch() }
                for await (id, participant, result, elapsed) in group {
                    participants[id] = participant
                    reports[id]!.seconds[name, default: 0] += elapsed
                    switch result {
                    case .success(let bytes):
                        reports[id]!.bytesSent += bytes.count
                        outputs.append((id, bytes))
                    case .failure(let error):
                        errors[id] = error
                    }
                    launch()
                }
            }
            return outputs.sorted { $0.0 < $1.0 }
        }

        func coordinatorStep<R>(_ name: String, _ body: () throws(TallyError) -> R) throws(TallyError) -> R {
            let start = ContinuousClock.now
            defer { coordinatorSeconds[name, default: 0] += seconds(since: start) }
            return try body()
        }

        let result: Result<AggregationResult, TallyError>
        do {
            // Stage 1
            let cohort = configuration.cohort
            let ads = await stage("advertiseKeys", cohort.filter { alive($0, at: .beforeAdvertisingKeys) }) { p throws(TallyError) in
                try p.advertiseKeys().serialized()
            }
            let directoryBytes = try coordinatorStep("collectKeys") { () throws(TallyError) in
                for (_, bytes) in ads { try? coordinator.receive(KeyAdvertisement(serialized: bytes)) }
                return try coordinator.closeKeyAdvertisement().serialized()
            }
            // Stage 2
            let u1 = try KeyDirectory(serialized: directoryBytes).entries.map(\.sender)
            let sharers = u1.filter { alive($0, at: .beforeSharingKeys) }
            for id in sharers { reports[id]!.bytesReceived += directoryBytes.count }
            let shares = await stage("shareKeys", sharers) { p throws(TallyError) in
                try p.shareKeys(KeyDirectory(serialized: directoryBytes)).serialized()
            }
            let deliveries = try coordinatorStep("relayShares") { () throws(TallyError) in
                for (_, bytes) in shares { try? coordinator.receive(EncryptedShares(serialized: bytes)) }
                return try coordinator.closeShareKeys().map { ($0.recipient, $0.serialized()) }
            }
            // Stage 3
            let deliveryFor = Dictionary(uniqueKeysWithValues: deliveries)
            let maskers = deliveries.map(\.0).filter { alive($0, at: .beforeMaskedInput) }
            for id in maskers { reports[id]!.bytesReceived += deliveryFor[id]!.count }
            let masked = await stage("maskedInput", maskers) { p throws(TallyError) in
                try p.maskInput(ShareDelivery(serialized: deliveryFor[p.id]!), input: input(p.id)).serialized()
            }
            let consistencyRequests = try coordinatorStep("sumMaskedInputs") { () throws(TallyError) in
                for (_, bytes) in masked { try? coordinator.receive(MaskedInput(serialized: bytes, layout: layout)) }
                return Dictionary(uniqueKeysWithValues: try coordinator.closeMaskedInput().map { ($0.recipient, $0.serialized()) })
            }
            // Stage 4a
            let checkers = consistencyRequests.keys.sorted().filter { alive($0, at: .beforeConsistencyCheck) }
            for id in checkers { reports[id]!.bytesReceived += consistencyRequests[id]!.count }
            let signatures = await stage("consistencyCheck", checkers) { p throws(TallyError) in
                try p.checkConsistency(ConsistencyRequest(serialized: consistencyRequests[p.id]!)).serialized()
            }
            let requestBytes = try coordinatorStep("collectSignatures") { () throws(TallyError) in
                for (_, bytes) in signatures { try? coordinator.receive(ConsistencySignature(serialized: bytes)) }
                return try coordinator.closeConsistencyCheck().serialized()
            }
            // Stage 4b
            let survivors = try UnmaskRequest(serialized: requestBytes).signers.filter { alive($0, at: .beforeUnmasking) }
            for id in survivors { reports[id]!.bytesReceived += requestBytes.count }
            let responses = await stage("unmask", survivors) { p throws(TallyError) in
                try p.unmask(UnmaskRequest(serialized: requestBytes)).serialized()
            }
            let aggregate = try coordinatorStep("unmask") { () throws(TallyError) in
                for (_, bytes) in responses { try? coordinator.receive(UnmaskResponse(serialized: bytes)) }
                return try coordinator.finish()
            }
            result = .success(aggregate)
        } catch {
            result = .failure(error)
        }
        return Outcome(result: result, participants: reports, coordinatorSeconds: coordinatorSeconds, participantErrors: errors)
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double { start.secondsElapsed }
