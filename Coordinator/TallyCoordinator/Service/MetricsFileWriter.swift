import Foundation
import Prometheus
import ServiceLifecycle
import TallyCore

/// Writes the Prometheus registry to `metrics.prom` in the data directory every few seconds (the
/// node_exporter textfile-collector convention), atomically, so scraping never sees half a file.
struct MetricsFileWriter: Service {
    let registry: PrometheusCollectorRegistry
    let path: String
    var interval: Duration = .seconds(2)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                write()
                try await Task.sleep(for: interval)
            }
        }
        write()
    }

    func write() {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        try? DurableFile.write(buffer, to: path)
    }
}
