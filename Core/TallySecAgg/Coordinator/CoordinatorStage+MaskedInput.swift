import TallyCore

/// Stage 3: the running sum of masked inputs and who contributed. Individual masked inputs are
/// added and dropped on arrival.
public struct MaskedInputCollectionStage: Sendable {
    let directory: KeyDirectory
    let session: SessionID
    /// U2, sorted.
    let expected: [ParticipantID]
    var sum: PackedVector
    var received: Set<ParticipantID> = []

    mutating func receive(_ input: MaskedInput, _ context: CoordinatorContext) throws(TallyError) {
        try context.checkEnvelope(round: input.roundID, session: input.session, expected: session, sender: input.sender)
        guard expected.contains(input.sender) else {
            throw TallyError(.unexpectedMessage, "round \(context.roundID): \(input.sender) sent a masked input but did not share keys")
        }
        guard !received.contains(input.sender) else {
            throw TallyError(.duplicateMessage, "round \(context.roundID): \(input.sender) already sent its masked input")
        }
        try sum.add(input.vector)
        received.insert(input.sender)
    }

    func close(_ context: CoordinatorContext) throws(TallyError) -> (UnmaskCollectionStage, UnmaskRequest) {
        try context.requireThreshold(received.count, "sent masked inputs")
        let survivors = expected.filter { received.contains($0) }
        let dropped = expected.filter { !received.contains($0) }
        let request = UnmaskRequest(roundID: context.roundID, session: session, survivors: survivors, dropped: dropped)
        let next = UnmaskCollectionStage(directory: directory, session: session, survivors: survivors, dropped: dropped, sum: sum)
        return (next, request)
    }
}
