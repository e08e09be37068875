public import TallyCore

extension TallyError.Code {
    /// A message names another round.
    public static let wrongRound = Self(rawValue: "secagg-wrong-round")
    /// A message carries another session id (another set of advertised keys).
    public static let wrongSession = Self(rawValue: "secagg-wrong-session")
    /// A message is from, or about, a participant outside the cohort.
    public static let notInCohort = Self(rawValue: "secagg-not-in-cohort")
    /// A second message of the same kind from the same participant.
    public static let duplicateMessage = Self(rawValue: "secagg-duplicate-message")
    /// A message that does not belong to the current stage (late, early or replayed).
    public static let unexpectedMessage = Self(rawValue: "secagg-unexpected-message")
    /// Fewer than t participants remain: the round aborts and releases nothing.
    public static let belowThreshold = Self(rawValue: "secagg-below-threshold")
    /// An unmask request that would reveal both secrets of one participant, or contradicts
    /// what this participant saw.
    public static let inconsistentUnmaskRequest = Self(rawValue: "secagg-inconsistent-unmask-request")
    /// A key advertisement whose signature does not verify against the sender's identity key.
    public static let badKeySignature = Self(rawValue: "secagg-bad-key-signature")
    /// The consistency check failed: a surviving neighbour did not mask with the peers the lists
    /// imply, or fewer than t participants signed the lists this one signed.
    public static let consistencyCheckFailed = Self(rawValue: "secagg-consistency-check-failed")
    /// The round was aborted earlier; no further messages are processed.
    public static let roundAborted = Self(rawValue: "secagg-round-aborted")
}
