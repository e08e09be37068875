/// Settings of the coordinator service. Defaults are the embedded ones: SQLite and local files
/// under a data directory, listening on loopback.
public struct CoordinatorConfiguration: Sendable, Hashable {
    public var dataDirectory: String
    public var host: String
    public var port: Int

    public init(dataDirectory: String = "tally-data/coordinator", host: String = "127.0.0.1", port: Int = 7443) {
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
    }
}
