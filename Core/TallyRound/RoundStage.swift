/// The stages of a round, in order: one vocabulary for the coordinator's state machine, the
/// round table of its database, its log lines and its metric labels.
public enum RoundStage: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Plan and model sent; collecting key advertisements while participants train.
    case keys
    /// Key directory sent; collecting encrypted shares.
    case shares
    /// Shares delivered; collecting masked inputs (in benchmark rounds without masking, the
    /// plain inputs).
    case maskedInputs = "masked-inputs"
    /// Survivor lists sent; collecting consistency signatures.
    case consistency
    /// Signatures relayed; collecting unmask responses.
    case unmasking
    /// The sum is known; decoding, ledger entry and publication.
    case releasing
    /// Ended with a published version.
    case released
    /// Ended with nothing published.
    case aborted

    /// Names an older release wrote to the round table, read back as today's stages.
    public init?(stored: String) {
        switch stored {
        case "planned": self = .keys
        case "sharing": self = .shares
        case "masking": self = .maskedInputs
        default: self.init(rawValue: stored)
        }
    }

    /// Whether the stage waits for participants' messages (and so has a deadline).
    public var collects: Bool {
        switch self {
        case .keys, .shares, .maskedInputs, .consistency, .unmasking: true
        case .releasing, .released, .aborted: false
        }
    }

    public static func < (a: RoundStage, b: RoundStage) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
