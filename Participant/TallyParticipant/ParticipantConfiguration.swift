/// Settings of one organization's participant daemon.
public struct ParticipantConfiguration: Sendable, Hashable {
    public var coordinatorAddress: String
    public var dataDirectory: String

    public init(coordinatorAddress: String = "127.0.0.1:7443", dataDirectory: String = "tally-data/participant") {
        self.coordinatorAddress = coordinatorAddress
        self.dataDirectory = dataDirectory
    }
}
