import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

/// Runs a gRPC server as a `Service`. On graceful shutdown it stops accepting new streams and
/// gives open ones `grace` to finish; participants' Session streams never end on their own, so
/// whatever is still open after that is cancelled.
struct GRPCServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    var grace: Duration = .seconds(2)

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask {
                // Returns when graceful shutdown begins (or throws if cancelled first).
                try await gracefulShutdown()
                server.beginGracefulShutdown()
                try await Task.sleep(for: grace)
                throw CancellationError()
            }
            do {
                try await group.next()
            } catch is CancellationError {
                // Grace period over.
            }
            group.cancelAll()
        }
    }
}
