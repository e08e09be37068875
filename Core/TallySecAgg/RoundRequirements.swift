public import TallyCore

/// What one participant requires of any round before it takes part. The coordinator chooses the
/// plan, and the CA that certifies the cohort may be run by the same operator, so these are the
/// participant's own: a plan below any of them is declined before a key is advertised.
public struct RoundRequirements: Sendable, Codable, Hashable {
    /// Fewest colluders the plan must tolerate (its c, with 2t > m + c and noise for t − c).
    public var minimumCollusionMargin = 1
    /// Smallest cohort it will aggregate with.
    public var minimumCohort = 2
    /// Smallest threshold as a fraction of the neighbourhood, t ≥ f·m (2t > m + c holds anyway;
    /// 2/3 is Bonawitz et al.'s choice for up to a third of colluders).
    public var minimumThresholdFraction = 0.0
    /// SHA-256 fingerprints (hex, of the DER certificate) of the only peers it will aggregate
    /// with; nil accepts any certificate the federation CA issued.
    public var allowedPeerFingerprints: [String]?

    public init() {}

    /// Throws `round-requirements-not-met`, naming the requirement, unless the round meets all
    /// of them. `fingerprints` are the cohort's certificate fingerprints (lowercase hex), by member;
    /// `own` is this participant, which need not list itself.
    public func check(_ configuration: SecAggConfiguration, fingerprints: [ParticipantID: String], own: ParticipantID) throws(TallyError) {
        let n = configuration.cohort.count
        let m = configuration.graph.neighbourhoodSize(cohortSize: n)
        let t = configuration.threshold, c = configuration.collusionMargin
        func fail(_ why: String) -> TallyError {
            TallyError(.roundRequirementsNotMet, "round \(configuration.roundID): \(why)")
        }
        guard c >= minimumCollusionMargin else {
            throw fail(
                "the plan tolerates \(c) colluding participants; this organization requires at least \(minimumCollusionMargin) (roundRequirements.minimumCollusionMargin)"
            )
        }
        guard n >= minimumCohort else {
            throw fail(
                "the cohort has \(n) participants; this organization requires at least \(minimumCohort) (roundRequirements.minimumCohort)")
        }
        guard Double(t) >= minimumThresholdFraction * Double(m) else {
            throw fail(
                "the threshold \(t) of \(m) is below this organization's minimum fraction \(minimumThresholdFraction) (roundRequirements.minimumThresholdFraction)"
            )
        }
        if let allowed = allowedPeerFingerprints.map({ Set($0.map { $0.lowercased() }) }) {
            for id in configuration.cohort where id != own {
                guard let fingerprint = fingerprints[id], allowed.contains(fingerprint) else {
                    throw fail(
                        "\(id)'s certificate (SHA-256 \(fingerprints[id]?.prefix(16) ?? "unknown")…) is not in roundRequirements.allowedPeerFingerprints"
                    )
                }
            }
        }
    }
}

extension TallyError.Code {
    /// A round plan below the participant's own requirements (collusion margin, cohort size,
    /// threshold fraction, allowed peers).
    public static let roundRequirementsNotMet = Self(rawValue: "round-requirements-not-met")
}
