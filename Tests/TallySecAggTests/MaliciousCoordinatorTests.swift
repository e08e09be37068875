import TallyCore
import Testing

@testable import TallySecAgg

/// A coordinator that deviates from the protocol, played against the participants' real state
/// machines: it keeps every masked input, routes each ciphertext as it likes, and shows each
/// participant its own survivor lists. Every attack is run twice — against participants built
/// without the consistency check (or with too small a collusion margin), where it must recover
/// the target's input exactly (the positive control), and against the product, where it must not.
@Suite struct MaliciousCoordinatorTests {
    /// Selective share delivery plus per-responder lists (no colluding participant): the target is
    /// sent the shares of only t − 1 peers D, so it masks with D alone; D is then called dropped to
    /// the others and the target a survivor to everyone. Without the check, the coordinator gets
    /// the target's self-mask seed and the masking keys of D, and strips the target's masks.
    @Test(arguments: [false, true])
    func selectiveDeliveryAndSplitLists(checksConsistency: Bool) throws {
        let (config, inputs) = try configuration(n: 7, dimension: 300) // t = 4
        var attack = try LyingCoordinator(config: config, inputs: inputs, checksConsistency: checksConsistency)
        let ids = config.cohort, t = config.threshold
        let target = ids[0]
        let chosen = Array(ids[1..<t]) // D, t − 1 peers
        let rest = Array(ids[t...])
        try attack.advertiseAndShare()
        for id in ids { try attack.mask(id, sharesFrom: id == target ? chosen : ids.filter { $0 != id }) }

        var lists: [ParticipantID: (survivors: [ParticipantID], dropped: [ParticipantID])] = [:]
        for r in rest { lists[r] = (ids.filter { !chosen.contains($0) }, chosen) }
        for j in chosen { lists[j] = (ids.filter { !chosen.contains($0) || $0 == j }, chosen.filter { $0 != j }) }
        lists[target] = ([target] + chosen, [])
        let outcomes = attack.runSplitRound(lists: lists)

        if checksConsistency {
            // Every holder of the target's shares sees that it masked with fewer peers than the
            // lists imply, and refuses to sign; nothing is revealed.
            for id in ids {
                #expect(outcomes[id]?.signatureError == .consistencyCheckFailed, "\(id)")
                #expect(outcomes[id]?.response == nil)
            }
            #expect(try attack.recover(target) == nil)
            // Nor does the best consistent alternative work: naming the target a survivor to
            // everyone is refused the same way, and naming it dropped reveals only its key.
            var honest = try LyingCoordinator(config: config, inputs: inputs, checksConsistency: true)
            try honest.advertiseAndShare()
            for id in ids { try honest.mask(id, sharesFrom: id == target ? chosen : ids.filter { $0 != id }) }
            let everyone = Dictionary(uniqueKeysWithValues: ids.map { ($0, (survivors: ids, dropped: [ParticipantID]())) })
            let refused = honest.runSplitRound(lists: everyone)
            #expect(refused[target]?.signatureError == .inconsistentUnmaskRequest) // it saw only D
            for id in ids.dropFirst() { #expect(refused[id]?.signatureError == .consistencyCheckFailed) }
            var dropping = try LyingCoordinator(config: config, inputs: inputs, checksConsistency: true)
            try dropping.advertiseAndShare()
            for id in ids { try dropping.mask(id, sharesFrom: id == target ? chosen : ids.filter { $0 != id }) }
            let others = ids.filter { $0 != target }
            let targetDropped = Dictionary(uniqueKeysWithValues: others.map { ($0, (survivors: others, dropped: [target])) })
            let answers = dropping.runSplitRound(lists: targetDropped)
            #expect(answers.values.allSatisfy { $0.response != nil })
            #expect(try dropping.recover(target) == nil)
        } else {
            #expect(try attack.recover(target) == inputs.values(target))
        }
    }

    /// Split lists with one colluding participant (it hands the coordinator both of its shares of
    /// the target's secrets and signs any list). With t = 3 of 5 — no collusion margin — two
    /// groups of t signers exist even with the check, and the target's input is recovered. With a
    /// margin c = 1 the threshold is t = 4 > (5 + 1)/2 and the same attack gets nothing.
    @Test(arguments: [0, 1])
    func splitListsWithAColluder(collusionMargin: Int) throws {
        let (config, inputs) = try configuration(n: 5, collusionMargin: collusionMargin, dimension: 300)
        #expect(config.threshold == 3 + collusionMargin)
        var attack = try LyingCoordinator(config: config, inputs: inputs, checksConsistency: true)
        let ids = config.cohort
        let target = ids[0], colluder = ids[4]
        attack.colluders = [colluder]
        try attack.advertiseAndShare()
        for id in ids { try attack.mask(id, sharesFrom: ids.filter { $0 != id }) }
        let survived = (survivors: ids, dropped: [ParticipantID]())
        let droppedTarget = (survivors: Array(ids.dropFirst()), dropped: [target])
        let lists = [target: survived, ids[1]: survived, ids[2]: droppedTarget, ids[3]: droppedTarget]
        let outcomes = attack.runSplitRound(lists: lists)
        if collusionMargin == 0 {
            #expect(try attack.recover(target) == inputs.values(target))
        } else {
            for id in lists.keys { #expect(outcomes[id]?.unmaskError == .consistencyCheckFailed, "\(id)") }
            #expect(try attack.recover(target) == nil)
        }
    }

    /// Consistency signatures from another session (an earlier round), or over other lists of
    /// this session, do not count: the participant aborts instead of revealing. The control shows
    /// the replayed signatures are genuine where they were made, and that a participant without
    /// the check answers the same request.
    @Test func replayedAndForeignSignaturesAreRefused() throws {
        let (config1, inputs) = try configuration(n: 5, round: 1)
        var round1 = try ManualRound(config: config1, inputs: inputs, seed: 3)
        _ = try round1.mask(try round1.share(try round1.advertise()))
        let genuine = try round1.check()
        var answering = round1.participants[config1.cohort[0]]!
        #expect(try answering.unmask(genuine).sender == config1.cohort[0])

        var config2 = config1
        config2.roundID = 2
        for checks in [true, false] {
            var round2 = try ManualRound(config: config2, inputs: inputs, seed: 4, checksConsistency: checks)
            _ = try round2.mask(try round2.share(try round2.advertise()))
            let requests = try round2.coordinator.closeMaskedInput()
            let p = requests[0].recipient
            _ = try round2.participants[p]!.checkConsistency(requests[0])
            let replayed = UnmaskRequest(roundID: 2, session: requests[0].session, signatures: genuine.signatures)
            var participant = round2.participants[p]!
            if checks {
                #expect(code { _ = try participant.unmask(replayed) } == .consistencyCheckFailed)
            } else {
                #expect(try participant.unmask(replayed).selfMaskSeedShares.count == 5)
            }
        }

        // Same session, other lists: signatures of a group told that someone dropped.
        var round = try ManualRound(config: config1, inputs: inputs, seed: 5)
        _ = try round.mask(try round.share(try round.advertise()))
        let requests = try round.coordinator.closeMaskedInput()
        let ids = config1.cohort
        var signatures: [ParticipantSignature] = []
        for id in ids.dropFirst() {
            // Lists calling ids[0] dropped, signed honestly by everyone else (they check out for them).
            let other = ConsistencyRequest(
                roundID: 1, session: requests[0].session, recipient: id, survivors: Array(ids.dropFirst()),
                dropped: [ids[0]], maskedWith: requests.first { $0.recipient == id }!.maskedWith)
            var signer = round.participants[id]!
            let s = try signer.checkConsistency(other)
            signatures.append(ParticipantSignature(participant: s.sender, signature: s.signature))
        }
        var victim = round.participants[ids[0]]!
        _ = try victim.checkConsistency(requests.first { $0.recipient == ids[0] }!)
        let mixed = UnmaskRequest(roundID: 1, session: requests[0].session, signatures: signatures)
        #expect(code { _ = try victim.unmask(mixed) } == .consistencyCheckFailed)
        // Too few genuine signatures over its own lists is refused too (t = 3; only 2 shown).
        var again = round.participants[ids[0]]!
        let own = try again.checkConsistency(requests.first { $0.recipient == ids[0] }!)
        var second = round.participants[ids[1]]!
        let theirs = try second.checkConsistency(requests.first { $0.recipient == ids[1] }!)
        let tooFew = UnmaskRequest(
            roundID: 1, session: requests[0].session,
            signatures: [
                ParticipantSignature(participant: own.sender, signature: own.signature),
                ParticipantSignature(participant: theirs.sender, signature: theirs.signature),
            ])
        #expect(code { _ = try again.unmask(tooFew) } == .consistencyCheckFailed)
    }

    /// The coordinator's own state machine refuses a masked input whose masked-with signature does
    /// not cover exactly the peers whose shares it was sent, before adding it to the sum.
    @Test func coordinatorRefusesAMaskedWithStatementThatDoesNotMatchItsDelivery() throws {
        let (config, inputs) = try configuration(n: 4)
        var round = try ManualRound(config: config, inputs: inputs)
        let deliveries = try round.share(try round.advertise())
        let liar = config.cohort[0]
        let honest = try round.participants[liar]!.maskInput(deliveries[liar]!, input: inputs.vector(liar))
        // The same input with a statement over a different peer set.
        let session = honest.session
        let wrong = SignedStatements.maskedWith(session: session, owner: liar, peers: Array(config.cohort.dropFirst(2)))
        let forged = MaskedInput(
            roundID: 1, session: session, sender: liar, vector: honest.vector,
            maskedWithSignature: try round.identityKeys[liar]!.signature(for: wrong))
        #expect(code { try round.coordinator.receive(forged) } == .consistencyCheckFailed)
        try round.coordinator.receive(honest)
        _ = try round.mask(deliveries, Array(config.cohort.dropFirst()))
        let result = try round.unmask(try round.check())
        #expect(result.sum.unpacked() == inputs.sum(of: config.cohort))
    }
}

/// The deviating coordinator of ``MaliciousCoordinatorTests``.
struct LyingCoordinator {
    var round: ManualRound
    /// Participants working with the coordinator: they give it every share they hold and sign
    /// whatever it asks.
    var colluders: Set<ParticipantID> = []
    private var directory: KeyDirectory?
    private var shares: [ParticipantID: EncryptedShares] = [:]
    private var masked: [ParticipantID: MaskedInput] = [:]
    private var views: [ParticipantID: [ParticipantID]] = [:]
    private var responses: [ParticipantID: UnmaskResponse] = [:]

    struct Outcome {
        var signatureError: TallyError.Code?
        var unmaskError: TallyError.Code?
        var response: UnmaskResponse?
    }

    init(config: SecAggConfiguration, inputs: Inputs, checksConsistency: Bool) throws {
        round = try ManualRound(config: config, inputs: inputs, checksConsistency: checksConsistency)
    }

    var config: SecAggConfiguration { round.config }
    var session: SessionID { shares.values.first!.session }

    mutating func advertiseAndShare() throws {
        var ads: [KeyAdvertisement] = []
        for id in config.cohort { ads.append(try round.participants[id]!.advertiseKeys()) }
        let directory = KeyDirectory(roundID: config.roundID, entries: ads)
        for id in config.cohort { shares[id] = try round.participants[id]!.shareKeys(directory) }
        self.directory = directory
    }

    /// Delivers `id` the ciphertexts of `senders` only, and keeps its masked input.
    mutating func mask(_ id: ParticipantID, sharesFrom senders: [ParticipantID]) throws {
        let items = senders.sorted().compactMap { sender in
            shares[sender]!.shares.first { $0.peer == id }.map { AddressedCiphertext(peer: sender, ciphertext: $0.ciphertext) }
        }
        let delivery = ShareDelivery(roundID: config.roundID, session: session, recipient: id, shares: items)
        masked[id] = try round.participants[id]!.maskInput(delivery, input: round.inputs.vector(id))
        views[id] = senders.sorted()
    }

    /// Shows each honest participant its own lists (with every masked-with signature the
    /// coordinator holds), then each the signatures over its own lists — colluders sign them all.
    mutating func runSplitRound(lists: [ParticipantID: (survivors: [ParticipantID], dropped: [ParticipantID])]) -> [ParticipantID: Outcome]
    {
        var outcomes: [ParticipantID: Outcome] = [:]
        var signed: [[UInt8]: [ParticipantSignature]] = [:]
        let maskedWith = masked.map { ParticipantSignature(participant: $0.key, signature: $0.value.maskedWithSignature) }
        for (id, list) in lists.sorted(by: { $0.key < $1.key }) where !colluders.contains(id) {
            let request = ConsistencyRequest(
                roundID: config.roundID, session: session, recipient: id, survivors: list.survivors,
                dropped: list.dropped, maskedWith: maskedWith)
            do {
                let s = try round.participants[id]!.checkConsistency(request)
                let key = SignedStatements.consistency(session: session, survivors: list.survivors, dropped: list.dropped)
                signed[key, default: []].append(ParticipantSignature(participant: id, signature: s.signature))
            } catch {
                outcomes[id] = Outcome(signatureError: error.code)
            }
        }
        for statement in Array(signed.keys) {
            for colluder in colluders {
                signed[statement]!.append(
                    ParticipantSignature(participant: colluder, signature: try! round.identityKeys[colluder]!.signature(for: statement)))
            }
        }
        for (id, list) in lists where !colluders.contains(id) && outcomes[id] == nil {
            let key = SignedStatements.consistency(session: session, survivors: list.survivors, dropped: list.dropped)
            let request = UnmaskRequest(roundID: config.roundID, session: session, signatures: signed[key] ?? [])
            do {
                let response = try round.participants[id]!.unmask(request)
                responses[id] = response
                outcomes[id] = Outcome(response: response)
            } catch {
                outcomes[id] = Outcome(unmaskError: error.code)
            }
        }
        return outcomes
    }

    /// Every share the coordinator now holds of `owner`'s two secrets, by kind.
    private func sharesOf(_ owner: ParticipantID) throws -> (seed: [ShamirShare], key: [ShamirShare]) {
        var seed: [ShamirShare] = [], key: [ShamirShare] = []
        for (responder, response) in responses {
            let x = config.shareIndex(of: responder)!
            seed += response.selfMaskSeedShares.filter { $0.owner == owner }.map { ShamirShare(x: x, y: $0.value) }
            key += response.maskingKeyShares.filter { $0.owner == owner }.map { ShamirShare(x: x, y: $0.value) }
        }
        for colluder in colluders where colluder != owner {
            guard case .maskedInput(let stage) = round.participants[colluder]!.state else { continue }
            let (s, k) = try stage.open(from: owner, round.participants[colluder]!.context)
            let x = config.shareIndex(of: colluder)!
            seed.append(ShamirShare(x: x, y: s))
            key.append(ShamirShare(x: x, y: k))
        }
        return (seed, key)
    }

    private func reconstruct(_ shares: [ShamirShare]) throws -> [UInt8]? {
        guard shares.count >= config.threshold else { return nil }
        return try ShamirSecretSharing(threshold: config.threshold, shareCount: config.cohort.count).reconstruct(shares)
    }

    /// The target's input, if the shares collected let the coordinator strip its self mask and
    /// every pairwise mask it added; nil otherwise.
    func recover(_ target: ParticipantID) throws -> [UInt64]? {
        guard let seed = try reconstruct(try sharesOf(target).seed) else { return nil }
        let advertised = Dictionary(uniqueKeysWithValues: directory!.entries.map { ($0.sender, $0) })
        let targetKey = try reconstruct(try sharesOf(target).key).map { try KeyAgreementPrivateKey(rawRepresentation: $0) }
        var terms = [MaskGenerator.Term(seed: seed, label: SessionKeys.selfMaskLabel(session: session, owner: target), subtract: true)]
        for peer in views[target]! {
            let pairSeed: [UInt8]
            if let targetKey {
                pairSeed = try SessionKeys.pairwiseSeed(targetKey, peerKey: advertised[peer]!.maskingKey, session: session, target, peer)
            } else if let raw = try reconstruct(try sharesOf(peer).key) {
                pairSeed = try SessionKeys.pairwiseSeed(
                    try KeyAgreementPrivateKey(rawRepresentation: raw), peerKey: advertised[target]!.maskingKey,
                    session: session, peer, target)
            } else {
                return nil
            }
            terms.append(SessionKeys.pairwiseTerm(seed: pairSeed, session: session, owner: target, peer: peer, negated: true))
        }
        var vector = masked[target]!.vector
        try MaskGenerator.apply(terms, to: &vector)
        return vector.unpacked()
    }
}

/// A participant's own minimums hold whatever the coordinator (and a CA run by the same operator)
/// plan: a plan that under-declares the colluders it tolerates, shrinks the cohort, lowers the
/// threshold or brings in an unknown certificate is declined.
@Suite struct RoundRequirementsTests {
    let layout = try! SlotLayout(slotWidth: 20, count: 10)

    func plan(n: Int, t: Int? = nil, c: Int) throws -> SecAggConfiguration {
        try SecAggConfiguration(
            roundID: 1, cohort: cohort(n), threshold: t ?? SecAggConfiguration.minimumThreshold(neighbourhood: n, collusionMargin: c),
            collusionMargin: c, layout: layout)
    }

    @Test func plansBelowTheParticipantsMinimumsAreDeclined() throws {
        var requirements = RoundRequirements()
        requirements.minimumCollusionMargin = 2
        requirements.minimumCohort = 5
        requirements.minimumThresholdFraction = 2.0 / 3
        let own = cohort(9)[0]
        let fingerprints = Dictionary(uniqueKeysWithValues: cohort(9).map { ($0, "\($0.rawValue)") })
        // Meets everything: c = 3 ≥ 2, n = 9 ≥ 5, t = 7 ≥ 6.
        try requirements.check(try plan(n: 9, c: 3), fingerprints: fingerprints, own: own)
        #expect(code { try requirements.check(try plan(n: 9, c: 1), fingerprints: fingerprints, own: own) } == .roundRequirementsNotMet)
        #expect(code { try requirements.check(try plan(n: 4, c: 2), fingerprints: fingerprints, own: own) } == .roundRequirementsNotMet)
        // c = 2 gives t = 6 of 9 (exactly 2/3): accepted; a plan at the protocol minimum for a
        // larger c but a lower fraction is refused.
        try requirements.check(try plan(n: 9, c: 2), fingerprints: fingerprints, own: own)
        requirements.minimumThresholdFraction = 0.75
        #expect(code { try requirements.check(try plan(n: 9, c: 2), fingerprints: fingerprints, own: own) } == .roundRequirementsNotMet)
    }

    @Test func onlyPinnedPeersAreAccepted() throws {
        var requirements = RoundRequirements()
        let ids = cohort(4)
        let fingerprints = Dictionary(uniqueKeysWithValues: ids.map { ($0, String(repeating: "a", count: 63) + "\($0.rawValue % 10)") })
        // Its own certificate need not be listed; every other member's must be.
        requirements.allowedPeerFingerprints = ids.dropFirst().map { fingerprints[$0]!.uppercased() }
        try requirements.check(try plan(n: 4, c: 1), fingerprints: fingerprints, own: ids[0])
        requirements.allowedPeerFingerprints = ids.dropFirst(2).map { fingerprints[$0]! }
        #expect(code { try requirements.check(try plan(n: 4, c: 1), fingerprints: fingerprints, own: ids[0]) } == .roundRequirementsNotMet)
    }

    /// The threshold rule itself: t must exceed (m + c)/2.
    @Test func thresholdMustExceedHalfOfCohortPlusColluders() throws {
        #expect(SecAggConfiguration.minimumThreshold(neighbourhood: 20, collusionMargin: 1) == 11)
        #expect(SecAggConfiguration.minimumThreshold(neighbourhood: 20, collusionMargin: 2) == 12)
        #expect(code { _ = try plan(n: 20, t: 11, c: 2) } == .invalidArgument)
        _ = try plan(n: 20, t: 12, c: 2)
        // Two members cannot tolerate two colluders (t > 2 is impossible).
        #expect(code { _ = try plan(n: 2, c: 2) } == .invalidArgument)
    }
}
