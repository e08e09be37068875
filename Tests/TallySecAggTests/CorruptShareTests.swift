import TallyCore
import Testing

@testable import TallySecAgg

/// A participant that lies in its unmask response: corrupt shares of another participant's
/// self-mask seed must not get a wrong sum released, and malformed answers cost only their sender.
@Suite struct CorruptShareTests {
    /// Runs a 5-member round (t = 3) in which `liars` return a corrupted share of `victim`'s seed.
    func round(liars: [Int], victim: Int, verifiesSecrets: Bool) throws -> (Result<AggregationResult, TallyError>, [UInt64]) {
        let (config, inputs) = try configuration(n: 5, dimension: 200)
        var round = try ManualRound(config: config, inputs: inputs)
        let identities = InMemoryIdentityDirectory(keys: round.identityKeys.mapValues(\.publicKey))
        round.coordinator = try SecAggCoordinator(configuration: config, identities: identities, verifiesSecrets: verifiesSecrets)
        _ = try round.mask(try round.share(try round.advertise()))
        let request = try round.check()
        let ids = config.cohort
        for (i, id) in ids.enumerated() {
            var response = try round.participants[id]!.unmask(request)
            if liars.contains(i) {
                let seeds = response.selfMaskSeedShares.map { share in
                    guard share.owner == ids[victim] else { return share }
                    var value = share.value
                    value[32] ^= 0x5a // still a field element: only the lowest byte changes
                    return RevealedShare(owner: share.owner, value: value)
                }
                response = UnmaskResponse(
                    roundID: response.roundID, session: response.session, sender: id,
                    selfMaskSeedShares: seeds, maskingKeyShares: response.maskingKeyShares)
            }
            try round.coordinator.receive(response)
        }
        return (Result { () throws(TallyError) in try round.coordinator.finish() }, inputs.sum(of: ids))
    }

    @Test func corruptSeedSharesAreFoundAndSetAside() throws {
        // Positive control: without checking the commitment, the liar's share (x = 1, among the
        // first t) is used and a wrong sum is released.
        let (unchecked, expected) = try round(liars: [0], victim: 1, verifiesSecrets: false)
        #expect(try unchecked.get().sum.unpacked() != expected)
        // Checked: the subset with the bad share fails the commitment, another t verify.
        let (one, _) = try round(liars: [0], victim: 1, verifiesSecrets: true)
        #expect(try one.get().sum.unpacked() == expected)
        // Two liars among five holders still leave t = 3 good shares.
        let (two, _) = try round(liars: [0, 2], victim: 1, verifiesSecrets: true)
        #expect(try two.get().sum.unpacked() == expected)
        // Three liars leave only two good shares: abort, nothing released.
        let (three, _) = try round(liars: [0, 2, 3], victim: 1, verifiesSecrets: true)
        guard case .failure(let error) = three else { Issue.record("a wrong sum must not be released"); return }
        #expect(error.code == .malformedShare)
    }

    /// A response with two shares of one secret, or a value that is not a field element, is
    /// refused on arrival; the round completes with the others.
    @Test func malformedResponsesAreRefusedOnArrival() throws {
        let (config, inputs) = try configuration(n: 5, dimension: 200)
        var round = try ManualRound(config: config, inputs: inputs)
        _ = try round.mask(try round.share(try round.advertise()))
        let request = try round.check()
        let ids = config.cohort
        let first = try round.participants[ids[0]]!.unmask(request)
        let duplicated = UnmaskResponse(
            roundID: 1, session: first.session, sender: ids[0],
            selfMaskSeedShares: first.selfMaskSeedShares + [first.selfMaskSeedShares[0]], maskingKeyShares: [])
        #expect(code { try round.coordinator.receive(duplicated) } == .duplicateShare)
        let second = try round.participants[ids[1]]!.unmask(request)
        var tooLarge = second.selfMaskSeedShares
        tooLarge[0] = RevealedShare(owner: tooLarge[0].owner, value: [UInt8](repeating: 0xff, count: 33))
        let overflowing = UnmaskResponse(
            roundID: 1, session: second.session, sender: ids[1], selfMaskSeedShares: tooLarge, maskingKeyShares: [])
        #expect(code { try round.coordinator.receive(overflowing) } == .malformedShare)
        for id in ids.dropFirst(2) { try round.coordinator.receive(round.participants[id]!.unmask(request)) }
        #expect(try round.coordinator.finish().sum.unpacked() == inputs.sum(of: ids))
    }

    /// A validly signed low-order X25519 key: handed to its neighbours it makes them abort (the
    /// positive control); the coordinator refuses it on arrival and the round goes on without
    /// its sender.
    @Test func lowOrderKeyCostsOnlyItsSender() throws {
        let (config, inputs) = try configuration(n: 5, dimension: 100)
        var round = try ManualRound(config: config, inputs: inputs)
        let liar = config.cohort[4]
        let honest = try round.participants[liar]!.advertiseKeys()
        let lowOrder = try KeyAgreementPublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        let signed = KeyAdvertisement.signedBytes(
            configurationDigest: config.digest, sender: liar,
            encryptionKey: honest.encryptionKey, maskingKey: lowOrder)
        let forged = KeyAdvertisement(
            roundID: 1, sender: liar, encryptionKey: honest.encryptionKey, maskingKey: lowOrder,
            signature: try round.identityKeys[liar]!.signature(for: signed))
        var others: [KeyAdvertisement] = []
        for id in config.cohort.dropLast() { others.append(try round.participants[id]!.advertiseKeys()) }
        // Positive control: a participant that uses it aborts.
        var neighbour = round.participants[config.cohort[0]]!
        #expect(code { _ = try neighbour.shareKeys(KeyDirectory(roundID: 1, entries: others + [forged])) } != nil)
        // The coordinator refuses it; the other four complete the round.
        #expect(code { try round.coordinator.receive(forged) } == .malformedKey)
        for ad in others { try round.coordinator.receive(ad) }
        let directory = try round.coordinator.closeKeyAdvertisement()
        _ = try round.mask(try round.share(directory))
        let result = try round.unmask(try round.check())
        #expect(result.sum.unpacked() == inputs.sum(of: Array(config.cohort.dropLast())))
    }
}
