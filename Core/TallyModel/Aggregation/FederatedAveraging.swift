public import TallyCore

/// FedAvg's server step (McMahan et al. 2017) with a server learning rate of 1: the new global
/// model is the old one plus the mean of the clients' updates, parameters[i] + mean[i].
public struct FederatedAveraging: Aggregator {
    public init() {}

    public func aggregate(global: [Float], meanUpdate: [Float]) throws(TallyError) -> [Float] {
        guard meanUpdate.count == global.count else {
            throw TallyError(.sizeMismatch, "the mean update has \(meanUpdate.count) values for \(global.count) parameters")
        }
        var parameters = global
        for i in parameters.indices { parameters[i] += meanUpdate[i] }
        return parameters
    }
}
