import TallyCore
import Testing

@testable import TallySecAgg

@Suite struct SecAggAdversarialTests {
    /// A participant whose masked input arrives after it was declared dropped is ignored, and the
    /// coordinator only ever receives shares of its masking key — never of its self-mask seed.
    @Test func lateParticipantIsIgnoredAndNeverFullyRevealed() throws {
        let (config, inputs) = try configuration(n: 5)
        var round = try ManualRound(config: config, inputs: inputs)
        let late = config.cohort[2]
        let deliveries = try round.share(try round.advertise())
        let onTime = config.cohort.filter { $0 != late }
        _ = try round.mask(deliveries, onTime)
        let requests = try round.coordinator.closeMaskedInput()
        #expect(requests.map(\.recipient) == onTime)
        #expect(requests.allSatisfy { $0.dropped == [late] && !$0.survivors.contains(late) })

        // Its input now arrives: refused, state unchanged.
        let lateInput = try round.participants[late]!.maskInput(deliveries[late]!, input: inputs.vector(late))
        #expect(code { try round.coordinator.receive(lateInput) } == .unexpectedMessage)
        // It is not asked to sign; if it were, it would refuse (it is named as dropped).
        let toLate = ConsistencyRequest(
            roundID: 1, session: requests[0].session, recipient: late, survivors: requests[0].survivors,
            dropped: requests[0].dropped, maskedWith: requests[0].maskedWith)
        #expect(code { _ = try round.participants[late]!.checkConsistency(toLate) } == .inconsistentUnmaskRequest)

        for request in requests { try round.coordinator.receive(round.participants[request.recipient]!.checkConsistency(request)) }
        let request = try round.coordinator.closeConsistencyCheck()
        var revealedSeedOwners = Set<ParticipantID>(), revealedKeyOwners = Set<ParticipantID>()
        for id in onTime {
            let response = try round.participants[id]!.unmask(request)
            revealedSeedOwners.formUnion(response.selfMaskSeedShares.map(\.owner))
            revealedKeyOwners.formUnion(response.maskingKeyShares.map(\.owner))
            try round.coordinator.receive(response)
        }
        #expect(!revealedSeedOwners.contains(late))
        #expect(revealedKeyOwners == [late])
        #expect(revealedSeedOwners.isDisjoint(with: revealedKeyOwners))
        let result = try round.coordinator.finish()
        #expect(result.contributors == onTime)
        #expect(result.sum.unpacked() == inputs.sum(of: onTime))
    }

    /// Lists that would reveal both secrets of one participant, or that contradict what a
    /// participant saw, are refused before anything is signed.
    @Test func participantsRefuseInconsistentLists() throws {
        let (config, inputs) = try configuration(n: 5)
        let ids = config.cohort
        var base = try ManualRound(config: config, inputs: inputs)
        _ = try base.mask(try base.share(try base.advertise()))
        let honest = try #require(try base.coordinator.closeMaskedInput().first { $0.recipient == ids[0] })
        func lists(_ survivors: [ParticipantID], _ dropped: [ParticipantID]) -> ConsistencyRequest {
            ConsistencyRequest(
                roundID: 1, session: honest.session, recipient: ids[0], survivors: survivors, dropped: dropped,
                maskedWith: honest.maskedWith)
        }
        let bad: [ConsistencyRequest] = [
            lists(ids, [ids[1]]), // both
            lists(Array(ids.dropLast()), []), // omits one
            lists(Array(ids.dropFirst()), [ids[0]]), // calls me dropped
            lists(ids + [ParticipantID(999)], []), // a stranger
        ]
        for request in bad {
            var participant = base.participants[ids[0]]!
            #expect(code { _ = try participant.checkConsistency(request) } == .inconsistentUnmaskRequest)
            guard case .aborted = participant.state else { Issue.record("participant must abort"); continue }
        }
        // The honest lists are signed.
        var participant = base.participants[ids[0]]!
        #expect(try participant.checkConsistency(honest).sender == ids[0])
    }

    /// Curious coordinator colluding with participants against one target. With the shares of
    /// t − 1 colluders it cannot recover the target's secrets, and its best attempt does not
    /// unmask the target's input; with t colluders it can (the positive control).
    @Test func collusionBelowThresholdLearnsNothing() throws {
        let n = 7
        let (config, inputs) = try configuration(n: n, dimension: 400) // t = 4
        var round = try ManualRound(config: config, inputs: inputs)
        let target = config.cohort[0]
        let deliveries = try round.share(try round.advertise())
        let masked = try round.mask(deliveries)
        let targetMasked = masked[target]!.vector
        let others = config.cohort.filter { $0 != target }
        let t = config.threshold

        // What colluding participants can decrypt: their shares of the target's two secrets.
        func colludersShares(_ colluders: [ParticipantID]) throws -> (seed: [ShamirShare], key: [ShamirShare]) {
            var seed: [ShamirShare] = [], key: [ShamirShare] = []
            for c in colluders {
                guard case .maskedInput(let stage) = round.participants[c]!.state else { throw TallyError(.unexpectedMessage, "state") }
                let (s, k) = try stage.open(from: target, round.participants[c]!.context)
                let x = config.shareIndex(of: c)!
                seed.append(ShamirShare(x: x, y: s))
                key.append(ShamirShare(x: x, y: k))
            }
            return (seed, key)
        }
        // Unmasks the target's individual vector given candidate secrets.
        func attemptUnmask(seed: [UInt8], maskingKey: [UInt8]) throws -> [UInt64] {
            guard case .maskedInput(let stage) = round.participants[others[0]]!.state else { return [] }
            let session = stage.session
            let key = try KeyAgreementPrivateKey(rawRepresentation: maskingKey)
            var terms = [MaskGenerator.Term(seed: seed, label: SessionKeys.selfMaskLabel(session: session, owner: target), subtract: true)]
            for peer in others {
                let peerKey = stage.shared.neighbourKeys[peer]?.maskingKey ?? stage.shared.keys.maskingKey.publicKey
                let s = try SessionKeys.pairwiseSeed(key, peerKey: peerKey, session: session, target, peer)
                terms.append(SessionKeys.pairwiseTerm(seed: s, session: session, owner: target, peer: peer, negated: true))
            }
            var v = targetMasked
            try MaskGenerator.apply(terms, to: &v)
            return v.unpacked()
        }
        let truth = inputs.values(target)
        let scheme = try ShamirSecretSharing(threshold: t, shareCount: n)

        // t − 1 colluders: reconstruction is refused, and forcing interpolation gives garbage.
        let few = try colludersShares(Array(others.prefix(t - 1)))
        #expect(code { _ = try scheme.reconstruct(few.seed) } == .tooFewShares)
        let guessSeed = try? LagrangeCoefficients(at: few.seed.map(\.x)).interpolateSecret(ys: few.seed.map(\.y))
        let guessKey = try? LagrangeCoefficients(at: few.key.map(\.x)).interpolateSecret(ys: few.key.map(\.y))
        if let guessSeed, let guessKey {
            let attempt = try attemptUnmask(seed: guessSeed, maskingKey: guessKey)
            #expect(attempt != truth)
            // Not even close: about as many coordinates match as chance would give.
            let matches = zip(attempt, truth).filter { $0 == $1 }.count
            #expect(matches < 5)
        }
        // The masked vector itself is far from the input.
        #expect(zip(targetMasked.unpacked(), truth).filter { $0 == $1 }.count < 5)

        // t colluders: the positive control recovers the exact input.
        let enough = try colludersShares(Array(others.prefix(t)))
        let seed = try scheme.reconstruct(enough.seed)
        let maskingKey = try scheme.reconstruct(enough.key)
        #expect(try attemptUnmask(seed: seed, maskingKey: maskingKey) == truth)
    }

    @Test func forgedKeySignatureIsRejected() throws {
        let (config, inputs) = try configuration(n: 5)
        var round = try ManualRound(config: config, inputs: inputs)
        let victim = config.cohort[1]
        let genuine = try round.participants[victim]!.advertiseKeys()
        // The coordinator (or anyone) substitutes its own masking key under the genuine signature.
        let substitute = try KeyAgreementPrivateKey().publicKey
        let forged = KeyAdvertisement(
            roundID: 1, sender: victim, encryptionKey: genuine.encryptionKey, maskingKey: substitute, signature: genuine.signature)
        #expect(code { try round.coordinator.receive(forged) } == .badKeySignature)
        try round.coordinator.receive(genuine)

        // A participant handed a directory with the forged entry aborts instead of using it.
        var other = round.participants[config.cohort[0]]!
        let ownAd = try other.advertiseKeys()
        var entries = [ownAd, forged]
        for id in config.cohort.dropFirst(2) { entries.append(try round.participants[id]!.advertiseKeys()) }
        #expect(code { _ = try other.shareKeys(KeyDirectory(roundID: 1, entries: entries)) } == .badKeySignature)
        guard case .aborted = other.state else { Issue.record("must abort on a forged key"); return }
    }

    /// A modified encrypted share is caught by its recipient, who aborts; the round completes
    /// with the others if at least t remain.
    @Test func tamperedShareIsRejectedAndRoundCompletes() throws {
        let (config, inputs) = try configuration(n: 5) // t = 3
        var round = try ManualRound(config: config, inputs: inputs)
        var deliveries = try round.share(try round.advertise())
        let victim = config.cohort[0]
        let original = deliveries[victim]!
        var items = original.shares
        var bytes = items[0].ciphertext
        bytes[20] ^= 0x01
        items[0] = AddressedCiphertext(peer: items[0].peer, ciphertext: bytes)
        deliveries[victim] = ShareDelivery(roundID: 1, session: original.session, recipient: victim, shares: items)
        _ = try round.mask(deliveries)
        let request = try round.check()
        for id in config.cohort {
            if id == victim {
                #expect(code { _ = try round.participants[id]!.unmask(request) } == .authenticationFailed)
            } else {
                try round.coordinator.receive(round.participants[id]!.unmask(request))
            }
        }
        let result = try round.coordinator.finish()
        #expect(result.sum.unpacked() == inputs.sum(of: config.cohort))
    }

    /// Messages from an earlier round or another session are refused, whatever their fields say.
    @Test func replayedMessagesAreRejected() throws {
        let (config1, inputs) = try configuration(n: 4, round: 1)
        var round1 = try ManualRound(config: config1, inputs: inputs, seed: 7)
        let directory1 = try round1.advertise()
        let deliveries1 = try round1.share(directory1)
        let masked1 = try round1.mask(deliveries1)

        var config2 = config1
        config2.roundID = 2
        var round2 = try ManualRound(config: config2, inputs: inputs, seed: 7)
        let id = config1.cohort[0]
        let oldAd = directory1.entries[0]
        #expect(code { try round2.coordinator.receive(oldAd) } == .wrongRound)
        // Relabelled as round 2, its signature (over round 1's configuration) no longer verifies.
        let relabelled = KeyAdvertisement(
            roundID: 2, sender: oldAd.sender, encryptionKey: oldAd.encryptionKey, maskingKey: oldAd.maskingKey, signature: oldAd.signature)
        #expect(code { try round2.coordinator.receive(relabelled) } == .badKeySignature)
        #expect(code { _ = try round2.participants[id]!.advertiseKeys() } == nil)

        // Round 2 proceeds; round-1 traffic replayed into it is refused at every stage.
        for other in config2.cohort.dropFirst() { try round2.coordinator.receive(round2.participants[other]!.advertiseKeys()) }
        let directory2 = try round2.coordinator.closeKeyAdvertisement()
        #expect(code { _ = try round2.participants[config2.cohort[1]]!.shareKeys(directory1) } == .wrongRound)
        let deliveries2 = try round2.share(directory2)
        let replayedInput = MaskedInput(roundID: 2, session: masked1[id]!.session, sender: config2.cohort[1], vector: masked1[id]!.vector)
        #expect(code { try round2.coordinator.receive(replayedInput) } == .wrongSession)
        #expect(code { try round2.coordinator.receive(masked1[id]!) } == .wrongRound)
        let p = config2.cohort[1]
        let stale = ShareDelivery(roundID: 2, session: deliveries1[p]!.session, recipient: p, shares: deliveries1[p]!.shares)
        #expect(code { _ = try round2.participants[p]!.maskInput(stale, input: inputs.vector(p)) } == .wrongSession)
        // …and the refusals changed nothing: round 2 still completes.
        _ = try round2.mask(deliveries2)
        let result = try round2.unmask(try round2.check())
        #expect(result.sum.unpacked() == inputs.sum(of: Array(config2.cohort.dropFirst())))
    }

    @Test func strangersAndDuplicatesAreRefused() throws {
        let (config, inputs) = try configuration(n: 4)
        var round = try ManualRound(config: config, inputs: inputs)
        let ad = try round.participants[config.cohort[0]]!.advertiseKeys()
        try round.coordinator.receive(ad)
        #expect(code { try round.coordinator.receive(ad) } == .duplicateMessage)
        let stranger = KeyAdvertisement(
            roundID: 1, sender: ParticipantID(999), encryptionKey: ad.encryptionKey, maskingKey: ad.maskingKey, signature: ad.signature)
        #expect(code { try round.coordinator.receive(stranger) } == .notInCohort)
        // Only two of four advertise: below t = 3, the round aborts at the close.
        try round.coordinator.receive(round.participants[config.cohort[1]]!.advertiseKeys())
        #expect(code { _ = try round.coordinator.closeKeyAdvertisement() } == .belowThreshold)
        #expect(code { try round.coordinator.receive(ad) } == .roundAborted)
    }

    /// What secure aggregation cannot stop (docs/protocol.md, "Threat model"): a participant that
    /// masks values of its own choosing, well formed for the slot layout. The round is released
    /// and the sum is the honest members' sum shifted by exactly those values; no party can tell.
    /// Proofs of a norm bound are future work; until then, what stands between such a sum and a
    /// published model is the publish gate (`PublishGateEndToEndTests`).
    @Test func aWellFormedArbitraryInputShiftsTheSumUnseen() async throws {
        let (config, inputs) = try configuration(n: 5, dimension: 300)
        let attacker = config.cohort[2]
        let extreme = [UInt64](repeating: (1 << 16) - 1, count: config.layout.count)
        let slotWidth = config.layout.slotWidth
        let outcome = try await RoundSimulator(configuration: config, seed: [9]).run { id in
            id == attacker ? try! PackedVector(packing: extreme, slotWidth: slotWidth) : inputs.vector(id)
        }
        let result = try outcome.result.get()
        #expect(result.contributors == config.cohort && result.dropped.isEmpty && outcome.participantErrors.isEmpty)
        let honest = inputs.sum(of: config.cohort.filter { $0 != attacker })
        #expect(result.sum.unpacked() == zip(honest, extreme).map { $0 + $1 })
        #expect(result.sum.unpacked() != inputs.sum(of: config.cohort), "the attacker's values are not what it would have sent")
    }
}
