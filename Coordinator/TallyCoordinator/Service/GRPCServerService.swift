import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

/// Runs a gRPC server as a `Service`: serves until graceful shutdown, then stops accepting new
/// streams and lets open ones finish.
struct GRPCServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
