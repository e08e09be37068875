/// The coordinator's server step: from the global parameters and the round's decoded mean
/// update to the next global parameters.
///
/// The mean is all the coordinator ever learns about the contributions (it is the unmasked
/// secure sum, decoded and divided by the public contributor count), so an aggregator sees no
/// individual update.
public protocol Aggregator: Sendable {
    /// The new global parameters, `global.count` of them.
    ///
    /// - Throws: `TallyError` if `meanUpdate` does not have one value per parameter.
    /// Mutating: server optimizers carry moments from round to round.
    mutating func aggregate(global: [Float], meanUpdate: [Float]) throws -> [Float]
}
