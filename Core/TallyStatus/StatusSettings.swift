import TallyCore

/// Where a daemon serves its live status (`/metrics`, `/api/status`, the page at `/`), and how
/// it is protected. Loopback by default: whoever can reach it reads the federation's progress.
public struct StatusSettings: Sendable, Codable, Hashable {
    /// Whether the status server runs.
    public var enabled = true
    /// The address it listens on. Anything but loopback requires `operatorTLS`.
    public var host = "127.0.0.1"
    /// Its TCP port; 0 picks a free one (logged at start).
    public var port: Int
    /// Serve HTTPS with the daemon's own certificate and require a client certificate of the
    /// federation CA with an operator identity (`tally://operator/NAME`) for every request:
    /// needed for operator actions, and for any address that is not loopback.
    public var operatorTLS = false

    public init(port: Int) { self.port = port }

    /// Whether `host` only accepts connections from this machine.
    public var isLoopback: Bool { ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.") }

    /// Checks the port and that a non-loopback address is protected; `allowsOperatorTLS` is false
    /// for a participant, whose page is for its own machine only.
    public func validate(key: String, allowsOperatorTLS: Bool) throws(TallyError) {
        guard (0...65535).contains(port) else { throw TallyError(.invalidArgument, "\(key).port must be 0...65535, got \(port)") }
        guard !host.isEmpty else { throw TallyError(.invalidArgument, "\(key).host must not be empty") }
        if !allowsOperatorTLS {
            guard !operatorTLS, isLoopback else {
                throw TallyError(
                    .invalidArgument, "\(key) serves this machine only: host must be a loopback address and operatorTLS false (got \(host))"
                )
            }
        } else if !isLoopback && !operatorTLS {
            throw TallyError(
                .invalidArgument,
                "\(key).host \(host) is not loopback: set \(key).operatorTLS to true so every request needs an operator certificate")
        }
    }
}
