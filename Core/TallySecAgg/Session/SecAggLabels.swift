/// Domain-separation labels. Every key, seed and signature in the protocol is derived under
/// one of these plus the session id, so nothing derived for one purpose or round can stand in
/// for another.
public enum SecAggLabels {
    public static let protocolVersion = "tally-secagg/v2"
    static let advertisement = "tally-secagg/v1/advertise"
    static let session = "tally-secagg/v1/session"
    static let shareEncryption = "tally-secagg/v1/share-encryption"
    static let shareAssociatedData = "tally-secagg/v1/share"
    static let pairwiseMask = "tally-secagg/v1/pairwise-mask"
    static let selfMask = "tally-secagg/v1/self-mask"
    static let graph = "tally-secagg/v1/graph"
    static let maskedWith = "tally-secagg/v2/masked-with"
    static let consistency = "tally-secagg/v2/consistency"
    static let seedCommitment = "tally-secagg/v2/seed-commitment"
}
