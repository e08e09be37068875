import Foundation
import TallyCore
import TallyLocalFederation

/// The clients the status-server tests use, each a real external program: curl for HTTP(S) with
/// or without a client certificate, headless Chromium for rendering, and the Python Prometheus
/// client's text parser for `/metrics`.
public enum StatusClients {
    /// What an HTTP request returned: the status code (0 when no response, e.g. a refused TLS
    /// handshake) and the body, or curl's error.
    public struct Reply: Sendable {
        public let status: Int
        public let body: String
    }

    /// Client certificate, key and CA for HTTPS.
    public struct ClientTLS: Sendable {
        public let certificate: String?
        public let key: String?
        public let certificateAuthority: String

        public init(certificate: String?, key: String?, certificateAuthority: String) {
            self.certificate = certificate
            self.key = key
            self.certificateAuthority = certificateAuthority
        }
    }

    /// One request with curl (bounded to 15 s).
    public static func request(_ url: String, method: String = "GET", tls: ClientTLS? = nil) async throws -> Reply {
        var arguments = ["-sS", "--max-time", "15", "-X", method, "-w", "\n%{http_code}", "--tlsv1.3"]
        if let tls {
            arguments += ["--cacert", tls.certificateAuthority]
            if let certificate = tls.certificate, let key = tls.key { arguments += ["--cert", certificate, "--key", key] }
        }
        let completion = try await Subprocess.run("/usr/bin/curl", arguments + [url], timeout: .seconds(30))
        let lines = completion.output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
        return Reply(status: code, body: lines.dropLast().joined(separator: "\n"))
    }

    /// A page as headless Chromium renders it: the DOM after loading, the console messages it
    /// logged (any error or warning a page script or a failed resource raises), and a screenshot
    /// at `width` CSS pixels saved to `screenshot`.
    public struct Rendering: Sendable {
        public let dom: String
        public let console: [String]
    }

    public static func render(_ url: String, screenshot: String, width: Int = 412, profile: String) async throws -> Rendering {
        let common = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--user-data-dir=\(profile)",
            "--enable-logging=stderr", "--v=0",
        ]
        let dom = try await Subprocess.run(chromium, common + ["--dump-dom", url], timeout: .seconds(120))
        let shot = try await Subprocess.run(
            chromium, common + ["--window-size=\(width),1400", "--hide-scrollbars", "--screenshot=\(screenshot)", url],
            timeout: .seconds(120))
        let console = (dom.output + "\n" + shot.output).split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Rendering(dom: dom.output, console: console)
    }

    static let chromium = "/usr/bin/chromium"

    /// Every sample of a Prometheus text exposition, parsed by `prometheus_client`'s parser:
    /// `name{label="value",…}` (labels sorted) to value. A file the parser rejects is an error.
    public static func parsePrometheus(_ text: String, directory: String) async throws -> [String: Double] {
        let input = directory + "/metrics-\(UUID().uuidString).prom"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let script = """
            import json, math, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    key = s.name + ("{" + labels + "}" if labels else "")
                    out[key] = s.value if math.isfinite(s.value) else str(s.value)
            print(json.dumps(out))
            """
        let completion = try await Subprocess.run("/usr/bin/python3", ["-c", script, input], timeout: .seconds(60))
        guard completion.status == 0, let line = completion.output.split(separator: "\n").last,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw TallyError(.malformedMessage, "the Prometheus parser rejected the exposition: \(completion.output)")
        }
        // Non-finite samples come back as text ("nan", "inf").
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue ?? ($0 as? String).flatMap(Double.init) }
    }
}
