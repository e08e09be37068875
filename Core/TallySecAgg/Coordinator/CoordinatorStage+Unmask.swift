import TallyCore

/// Stage 4b: unmask responses from the survivors that signed the lists; at the end,
/// reconstruction and mask removal.
public struct UnmaskCollectionStage: Sendable {
    let directory: KeyDirectory
    let session: SessionID
    /// U3 and U2 \ U3, sorted.
    let survivors: [ParticipantID]
    let dropped: [ParticipantID]
    /// The survivors whose consistency signatures were forwarded (U4), sorted.
    let responders: [ParticipantID]
    let sum: PackedVector
    var responses: [ParticipantID: UnmaskResponse] = [:]

    mutating func receive(_ response: UnmaskResponse, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: response.roundID, session: response.session, expected: session, sender: response.sender)
        guard responders.contains(response.sender) else {
            throw TallyError(.unexpectedMessage, "round \(context.roundID): unmask response from \(response.sender), who did not sign the survivor lists")
        }
        guard responses[response.sender] == nil else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(response.sender) already answered")
        }
        let survivorSet = Set(survivors), droppedSet = Set(dropped)
        for share in response.selfMaskSeedShares {
            guard survivorSet.contains(share.owner),
                  share.owner == response.sender || context.graph.areNeighbours(share.owner, response.sender) else {
                throw TallyError(.unexpectedMessage, "round \(context.roundID): \(response.sender) returned a seed share of \(share.owner), which was not asked for")
            }
        }
        for share in response.maskingKeyShares {
            guard droppedSet.contains(share.owner), context.graph.areNeighbours(share.owner, response.sender) else {
                throw TallyError(.unexpectedMessage, "round \(context.roundID): \(response.sender) returned a key share of \(share.owner), which was not asked for")
            }
        }
        responses[response.sender] = response
    }

    func unmask(_ context: CoordinatorContext) throws(TallyError) -> AggregationResult {
        try context.requireThreshold(responses.count, "answered the unmask request")
        let configuration = context.configuration
        let scheme = try ShamirSecretSharing(threshold: configuration.threshold, shareCount: configuration.cohort.count)
        var seedShares: [ParticipantID: [ShamirShare]] = [:]
        var keyShares: [ParticipantID: [ShamirShare]] = [:]
        for (responder, response) in responses {
            let x = configuration.shareIndex(of: responder)!
            for s in response.selfMaskSeedShares { seedShares[s.owner, default: []].append(ShamirShare(x: x, y: s.value)) }
            for s in response.maskingKeyShares { keyShares[s.owner, default: []].append(ShamirShare(x: x, y: s.value)) }
        }
        var reconstructor = Reconstructor(scheme: scheme)
        var terms: [MaskGenerator.Term] = []
        // Survivors: remove each self mask.
        for owner in survivors {
            let seed = try reconstructor.secret(of: owner, from: seedShares[owner] ?? [], what: "self-mask seed", roundID: context.roundID)
            terms.append(MaskGenerator.Term(seed: seed, label: SessionKeys.selfMaskLabel(session: session, owner: owner), subtract: true))
        }
        // Dropped: recover the masking key, check it against the advertised public key, and
        // remove the pairwise masks the surviving neighbours added with it.
        let advertised = Dictionary(uniqueKeysWithValues: directory.entries.map { ($0.sender, $0) })
        let survivorSet = Set(survivors)
        for owner in dropped {
            var raw = try reconstructor.secret(of: owner, from: keyShares[owner] ?? [], what: "masking key", roundID: context.roundID)
            let key = try KeyAgreementPrivateKey(rawRepresentation: raw)
            OpenSSLCleanse.zero(&raw)
            guard key.publicKey == advertised[owner]!.maskingKey else {
                throw TallyError(.malformedShare, "round \(context.roundID): the masking key reconstructed for \(owner) does not match its advertised key (corrupt shares)")
            }
            for peer in context.graph.neighbours(of: owner) where survivorSet.contains(peer) {
                let seed = try SessionKeys.pairwiseSeed(key, peerKey: advertised[peer]!.maskingKey, session: session, owner, peer)
                terms.append(SessionKeys.pairwiseTerm(seed: seed, session: session, owner: peer, peer: owner, negated: true))
            }
        }
        var result = sum
        try MaskGenerator.apply(terms, to: &result)
        return AggregationResult(roundID: context.roundID, session: session, sum: result, contributors: survivors, dropped: dropped)
    }
}

/// Shamir reconstruction with Lagrange coefficients cached by the set of responders, which is
/// the same for most secrets of a round.
struct Reconstructor {
    let scheme: ShamirSecretSharing
    private var cache: [[UInt32]: LagrangeCoefficients] = [:]

    init(scheme: ShamirSecretSharing) { self.scheme = scheme }

    mutating func secret(of owner: ParticipantID, from shares: [ShamirShare], what: String, roundID: UInt64) throws(TallyError) -> [UInt8] {
        guard shares.count >= scheme.threshold else {
            throw TallyError(.belowThreshold, "round \(roundID): only \(shares.count) shares of the \(what) of \(owner); \(scheme.threshold) needed. Aborting; nothing is released")
        }
        let chosen = Array(shares.sorted { $0.x < $1.x }.prefix(scheme.threshold))
        let xs = chosen.map(\.x)
        let lagrange: LagrangeCoefficients
        if let cached = cache[xs] {
            lagrange = cached
        } else {
            lagrange = try LagrangeCoefficients(at: xs)
            cache[xs] = lagrange
        }
        return try lagrange.interpolateSecret(ys: chosen.map(\.y))
    }
}
