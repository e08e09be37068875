public import TallyCore

/// Where a party finds another participant's identity key to check key-advertisement
/// signatures. In the networked system the keys come from certificates verified against the
/// federation CA; in tests and simulation, from an in-memory directory.
public protocol IdentityVerifier: Sendable {
    func identityKey(of participant: ParticipantID) throws(TallyError) -> SigningPublicKey
}

/// A fixed table of identity keys (a test PKI).
public struct InMemoryIdentityDirectory: IdentityVerifier {
    public var keys: [ParticipantID: SigningPublicKey]

    public init(keys: [ParticipantID: SigningPublicKey]) { self.keys = keys }

    public func identityKey(of participant: ParticipantID) throws(TallyError) -> SigningPublicKey {
        guard let key = keys[participant] else {
            throw TallyError(.notInCohort, "no identity key is known for \(participant)")
        }
        return key
    }
}

/// Where a party's randomness comes from. `.system` in production; `.seeded` makes tests and
/// simulations reproducible (each stage derives its own stream from the seed and a label).
public enum RandomnessSource: Sendable, Hashable {
    case system
    case seeded([UInt8])

    func make(_ purpose: String) -> any CryptoRandomSource {
        switch self {
        case .system: return SystemRandom()
        case .seeded(let seed): return SeededRandom(seed: SHA256Digest.hash(seed + Array(purpose.utf8)))
        }
    }
}
