/// Points of a round where a test stops the participant (crash tests). The product installs
/// none; `tally-participant run` installs the fault named by `TALLY_FAULT_INJECTION` for the
/// multi-process tests.
public struct ParticipantHooks: Sendable {
    /// Called just before this participant's masked input of round `id` is charged and sent.
    public var beforeMaskedInput: @Sendable (_ round: UInt64) -> Void

    public init(beforeMaskedInput: @escaping @Sendable (UInt64) -> Void = { _ in }) {
        self.beforeMaskedInput = beforeMaskedInput
    }

    public static let none = ParticipantHooks()
}
