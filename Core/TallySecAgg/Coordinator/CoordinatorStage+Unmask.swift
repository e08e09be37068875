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
    let seedCommitments: [ParticipantID: [UInt8]]
    let sum: PackedVector
    var responses: [ParticipantID: UnmaskResponse] = [:]

    mutating func receive(_ response: UnmaskResponse, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: response.roundID, session: response.session, expected: session, sender: response.sender)
        guard responders.contains(response.sender) else {
            throw TallyError(
                .unexpectedMessage, "round \(context.roundID): unmask response from \(response.sender), who did not sign the survivor lists"
            )
        }
        guard responses[response.sender] == nil else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(response.sender) already answered")
        }
        let survivorSet = Set(survivors), droppedSet = Set(dropped)
        // Malformed answers cost only their sender: refused here, before anything is interpolated.
        for list in [response.selfMaskSeedShares, response.maskingKeyShares] {
            guard Set(list.map(\.owner)).count == list.count else {
                throw TallyError(
                    .duplicateShare, "round \(context.roundID): \(response.sender) returned two shares of one participant's secret")
            }
            if let bad = list.first(where: { !ShamirShare(x: 1, y: $0.value).isFieldElement }) {
                throw TallyError(
                    .malformedShare,
                    "round \(context.roundID): \(response.sender) returned a share of \(bad.owner) that is not a field element")
            }
        }
        for share in response.selfMaskSeedShares {
            guard survivorSet.contains(share.owner),
                share.owner == response.sender || context.graph.areNeighbours(share.owner, response.sender)
            else {
                throw TallyError(
                    .unexpectedMessage,
                    "round \(context.roundID): \(response.sender) returned a seed share of \(share.owner), which was not asked for")
            }
        }
        for share in response.maskingKeyShares {
            guard droppedSet.contains(share.owner), context.graph.areNeighbours(share.owner, response.sender) else {
                throw TallyError(
                    .unexpectedMessage,
                    "round \(context.roundID): \(response.sender) returned a key share of \(share.owner), which was not asked for")
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
            let commitment = seedCommitments[owner]
            let seed = try reconstructor.secret(
                of: owner, from: seedShares[owner] ?? [], what: "self-mask seed", roundID: context.roundID,
                verify: context.verifiesSecrets
                    ? { SessionKeys.seedCommitment(session: session, owner: owner, seed: $0) == commitment } : nil)
            terms.append(MaskGenerator.Term(seed: seed, label: SessionKeys.selfMaskLabel(session: session, owner: owner), subtract: true))
        }
        // Dropped: recover the masking key, check it against the advertised public key, and
        // remove the pairwise masks the surviving neighbours added with it.
        let advertised = Dictionary(uniqueKeysWithValues: directory.entries.map { ($0.sender, $0) })
        let survivorSet = Set(survivors)
        for owner in dropped {
            let advertisedKey = advertised[owner]!.maskingKey
            var raw = try reconstructor.secret(
                of: owner, from: keyShares[owner] ?? [], what: "masking key", roundID: context.roundID,
                verify: { (try? KeyAgreementPrivateKey(rawRepresentation: $0))?.publicKey == advertisedKey })
            let key = try KeyAgreementPrivateKey(rawRepresentation: raw)
            OpenSSLCleanse.zero(&raw)
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

    /// Most t-subsets tried when the first does not reconstruct to a secret that `verify` accepts.
    static let maxSubsets = 4096

    /// The secret of `owner` from t of `shares`. With `verify` (the seed commitment or the
    /// advertised public key), a subset whose secret fails it — some share in it is corrupt — is
    /// set aside and others are tried: every way of leaving out e of the first t + e shares, e =
    /// 1, 2, …, while shares remain and at most ``maxSubsets`` subsets have been tried. So up to
    /// e corrupt shares cost nothing when t + e honest ones are in; only when no subset verifies
    /// does the round abort, releasing nothing.
    mutating func secret(
        of owner: ParticipantID, from shares: [ShamirShare], what: String, roundID: UInt64,
        verify: ((([UInt8]) -> Bool))? = nil
    ) throws(TallyError) -> [UInt8] {
        let t = scheme.threshold
        guard shares.count >= t else {
            throw TallyError(
                .belowThreshold,
                "round \(roundID): only \(shares.count) shares of the \(what) of \(owner); \(t) needed. Aborting; nothing is released")
        }
        let sorted = shares.sorted { $0.x < $1.x }
        guard let verify else { return try interpolate(Array(sorted.prefix(t))) }
        var tried = 0
        for excluded in 0...(sorted.count - t) {
            let pool = Array(sorted.prefix(t + excluded))
            for leftOut in Self.combinations(of: pool.count, choose: excluded) {
                guard tried < Self.maxSubsets else { break }
                tried += 1
                let subset = pool.enumerated().filter { !leftOut.contains($0.offset) }.map(\.element)
                if let secret = try? interpolate(subset), verify(secret) { return secret }
            }
            if tried >= Self.maxSubsets { break }
        }
        throw TallyError(
            .malformedShare,
            "round \(roundID): no \(t) of the \(shares.count) shares of the \(what) of \(owner) reconstruct to what it committed to (\(tried) subsets tried; corrupt shares). Aborting; nothing is released"
        )
    }

    private mutating func interpolate(_ chosen: [ShamirShare]) throws(TallyError) -> [UInt8] {
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

    /// Index sets of size k from 0..<n, in lexicographic order.
    static func combinations(of n: Int, choose k: Int) -> [Set<Int>] {
        guard k > 0 else { return [[]] }
        guard k <= n else { return [] }
        var result: [Set<Int>] = []
        var indices = Array(0..<k)
        while true {
            result.append(Set(indices))
            if result.count >= maxSubsets { return result }
            var i = k - 1
            while i >= 0 && indices[i] == n - k + i { i -= 1 }
            if i < 0 { return result }
            indices[i] += 1
            for j in (i + 1)..<k { indices[j] = indices[j - 1] + 1 }
        }
    }
}
