import TallyCore

/// The two statements participants sign with their identity keys during a round, beyond their
/// key advertisement. Both bind the session id, so a signature from one round, session or
/// statement never stands for another.
///
/// - **Masked-with** (stage 3): the exact set of peers whose pairwise masks a participant added.
///   A coordinator that delivers a participant only some of its neighbours' shares (so that it
///   masks with peers the coordinator will later call dropped) cannot hide that: every holder of
///   the participant's shares checks this statement against the survivor and dropped lists before
///   revealing anything.
/// - **Consistency** (Bonawitz et al., CCS 2017, ConsistencyCheck): the survivor and dropped lists
///   a participant was given. A participant reveals shares only after seeing at least t such
///   signatures over its own lists, so no two groups of t can be shown different lists.
enum SignedStatements {
    static func maskedWith(session: SessionID, owner: ParticipantID, peers: [ParticipantID]) -> [UInt8] {
        var w = WireWriter(capacity: 80 + 4 * peers.count)
        w.write(fixed: Array(SecAggLabels.maskedWith.utf8))
        w.write(fixed: session.bytes)
        w.write(owner.rawValue)
        w.write(participants: peers.sorted())
        return w.bytes
    }

    static func consistency(session: SessionID, survivors: [ParticipantID], dropped: [ParticipantID]) -> [UInt8] {
        var w = WireWriter(capacity: 80 + 4 * (survivors.count + dropped.count))
        w.write(fixed: Array(SecAggLabels.consistency.utf8))
        w.write(fixed: session.bytes)
        w.write(participants: survivors.sorted())
        w.write(participants: dropped.sorted())
        return w.bytes
    }
}
