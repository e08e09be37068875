import Foundation
import TallyCoordinator
import TallyCore
import TallyParticipant
import TallyWire

/// What `tally-coordinator provision` reads: the federation in a few lines. Organizations and
/// operators by name; the coordinator by the address participants dial.
public struct FederationDescription: Sendable, Codable, ConfigurationFile {
    public struct Coordinator: Sendable, Codable, Hashable {
        /// The name or address participants dial (written into their configurations and the
        /// coordinator's certificate).
        public var host = "127.0.0.1"
        public var port = 7443
        /// The address the coordinator listens on.
        public var listen = "0.0.0.0"
        /// More DNS names or IP addresses its certificate should carry.
        public var alternativeNames: [String] = []
        public init() {}
    }
    /// The CA's name.
    public var name = "Tally federation"
    public var coordinator = Coordinator()
    /// Organization names (a–z, 0–9, `.`, `-`, `_`): each gets a participant id, kept across
    /// runs in `organizations.json`, and a kit folder of its own name.
    public var organizations: [String] = []
    /// Operator names: each gets an operator certificate for the live status server's actions.
    public var operators: [String] = []
    /// Validity of the certificates issued, in days.
    public var certificateDays = 365

    public init() {}

    public func validate() throws(TallyError) {
        for (key, names) in [("organizations", organizations), ("operators", operators)] {
            for name in names where !PeerRole.isValidOperatorName(name) {
                throw TallyError(
                    .invalidArgument,
                    "\(key): \"\(name)\" is not a valid name (1-64 of a-z, 0-9, '.', '-', '_', starting with a letter or digit)")
            }
            guard Set(names).count == names.count else { throw TallyError(.invalidArgument, "\(key) lists a name twice") }
        }
        guard !organizations.isEmpty else { throw TallyError(.invalidArgument, "organizations must list at least one organization") }
        guard organizations.count <= 10_000 else { throw TallyError(.invalidArgument, "organizations: at most 10000") }
        guard (1...65535).contains(coordinator.port) else { throw TallyError(.invalidArgument, "coordinator.port must be 1...65535") }
        guard (1...3650).contains(certificateDays) else { throw TallyError(.invalidArgument, "certificateDays must be 1...3650") }
        for name in [coordinator.host] + coordinator.alternativeNames where name.isEmpty || name.contains(where: \.isWhitespace) {
            throw TallyError(.invalidArgument, "coordinator names must be DNS names or IP addresses, got \"\(name)\"")
        }
    }
}

/// Provisioning: from a ``FederationDescription``, the CA and one folder per party, each with its
/// certificate, key, the CA, a ready configuration (paths relative to the folder: run each daemon
/// from its folder) and a page of next steps. Certificates come from the `certs/` scripts, the one
/// way the federation issues them. Running it again adds what is new (organizations keep their
/// ids) and leaves everything that exists alone; ``renew(_:in:scripts:days:)`` reissues one.
public enum FederationKit {
    /// Organization name → participant id, kept in the output folder.
    public static let idsFile = "organizations.json"

    @discardableResult
    public static func provision(_ d: FederationDescription, into output: String, scripts: String) throws -> [String] {
        try d.validate()
        var made: [String] = []
        let fm = FileManager.default
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: output + "/ca/ca.key") {
            try run(scripts + "/create-federation-ca.sh", [output, d.name + " CA"])
            made.append("ca/ (the federation CA: keep ca/ca.key offline)")
        }
        var ids = try readIDs(output)
        for name in d.organizations where ids[name] == nil { ids[name] = (ids.values.max() ?? 0) + 1 }
        try DurableFile.write(try StrictJSON.encode(ids), to: output + "/" + idsFile)

        let coordinator = output + "/coordinator"
        if !fm.fileExists(atPath: coordinator + "/cert.pem") {
            let names = ([d.coordinator.host] + d.coordinator.alternativeNames).filter {
                !["localhost", "127.0.0.1", "::1"].contains($0)
            }
            try run(scripts + "/issue-certificate.sh", [output, "coordinator"] + names)
            var c = CoordinatorConfiguration()
            c.dataDirectory = "data"
            c.host = d.coordinator.listen
            c.port = d.coordinator.port
            c.tls = TLSFiles(directory: ".")
            c.revocationList = "../ca/crl.pem"
            c.allowedParticipants = d.organizations.compactMap { ids[$0].map(UInt32.init) }.sorted()
            c.participantNames = d.organizations.compactMap { name in ids[name].map { ParticipantName(id: UInt32($0), name: name) } }
            c.minParticipants = min(c.minParticipants, max(2, d.organizations.count))
            c.maxCohort = max(c.maxCohort, d.organizations.count)
            try write(c, to: coordinator + "/coordinator.json")
            try DurableFile.write(Array(coordinatorSteps(d).utf8), to: coordinator + "/NEXT-STEPS.md")
            made.append("coordinator/")
        }
        for (index, name) in d.organizations.enumerated() {
            let kit = output + "/" + name
            guard !fm.fileExists(atPath: kit + "/cert.pem"), let id = ids[name] else { continue }
            try issueParticipant(id: id, name: name, output: output, scripts: scripts, days: d.certificateDays)
            var p = ParticipantConfiguration()
            p.coordinatorHost = d.coordinator.host
            p.coordinatorPort = d.coordinator.port
            p.tls = TLSFiles(directory: ".")
            p.dataDirectory = "data"
            // Ready to run on the built-in Fashion-MNIST partition; NEXT-STEPS.md says how to point
            // it at the organization's own data.
            p.data.organizations = d.organizations.count
            p.data.index = index
            try write(p, to: kit + "/participant.json")
            try DurableFile.write(Array(participantSteps(d, name: name, id: id).utf8), to: kit + "/NEXT-STEPS.md")
            made.append("\(name)/ (participant \(id))")
        }
        for name in d.operators where !fm.fileExists(atPath: output + "/operator-\(name)/cert.pem") {
            try run(scripts + "/issue-certificate.sh", [output, "operator", name, "\(d.certificateDays)"])
            made.append("operator-\(name)/")
        }
        return made
    }

    /// Issues a new certificate (and key) for organization `name` before its old one expires; the
    /// old files are kept beside it as `*.previous`. Restart its daemon to use them.
    public static func renew(_ name: String, in output: String, scripts: String, days: Int) throws -> Int {
        guard let id = try readIDs(output)[name] else {
            throw TallyError(.invalidArgument, "no organization \"\(name)\" in \(output)/\(idsFile)")
        }
        let kit = output + "/" + name
        for file in ["cert.pem", "key.pem"] where FileManager.default.fileExists(atPath: kit + "/" + file) {
            try? FileManager.default.removeItem(atPath: kit + "/" + file + ".previous")
            try FileManager.default.moveItem(atPath: kit + "/" + file, toPath: kit + "/" + file + ".previous")
        }
        try issueParticipant(id: id, name: name, output: output, scripts: scripts, days: days)
        return id
    }

    static func issueParticipant(id: Int, name: String, output: String, scripts: String, days: Int) throws {
        try run(scripts + "/issue-certificate.sh", [output, "participant", "\(id)", "\(days)"])
        let issued = output + "/participant-\(id)"
        let kit = output + "/" + name
        try FileManager.default.createDirectory(atPath: kit, withIntermediateDirectories: true)
        for file in ["cert.pem", "key.pem", "ca.crt"] {
            try? FileManager.default.removeItem(atPath: kit + "/" + file)
            try FileManager.default.moveItem(atPath: issued + "/" + file, toPath: kit + "/" + file)
        }
        try FileManager.default.removeItem(atPath: issued)
    }

    static func readIDs(_ output: String) throws -> [String: Int] {
        let path = output + "/" + idsFile
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let bytes = try BoundedFile.read(path, maxBytes: 1 << 20, what: "organization ids")
        do { return try JSONDecoder().decode([String: Int].self, from: Data(bytes)) } catch {
            throw TallyError(.invalidArgument, "\(path) is not a JSON object of organization names to ids", cause: error)
        }
    }

    static func write(_ value: some Encodable, to path: String) throws {
        try DurableFile.write(try StrictJSON.encode(value), to: path)
    }

    static func run(_ script: String, _ arguments: [String]) throws {
        try Subprocess.check("/bin/bash", [script] + arguments, timeout: .seconds(120))
    }

    /// The `certs/` folder: `--certs`, `$TALLY_CERTS`, `./certs`, or found above the executable
    /// (a checkout's `.build/<config>/`).
    public static func scripts(explicit: String?) throws -> String {
        var candidates = [explicit, ProcessInfo.processInfo.environment["TALLY_CERTS"], "certs"].compactMap { $0 }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.path + "/certs")
            directory.deleteLastPathComponent()
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/issue-certificate.sh") }) else {
            throw TallyError(.invalidArgument, "cannot find the certs/ scripts (issue-certificate.sh); pass --certs DIR")
        }
        return found
    }

    static func coordinatorSteps(_ d: FederationDescription) -> String {
        """
        # \(d.name): the coordinator

        This folder holds the coordinator's certificate and key (`key.pem`, mode 600: never share
        it), the federation CA and `coordinator.json`. Paths in it are relative: run from here.

        1. Check the configuration (privacy target, rounds, model; docs/operations.md explains every key):
           `tally-coordinator check-config --config coordinator.json`
        2. Start it: `tally-coordinator serve --config coordinator.json`
           (or install deploy/systemd/tally-coordinator.service). Participants dial
           \(d.coordinator.host):\(d.coordinator.port).
        3. Watch it: the status page at http://127.0.0.1:7480/ (loopback only; see "Live status" in
           docs/operations.md to expose it with operator certificates).
        4. Send each organization its folder (`../<name>/`) over a channel you trust.
        5. Revoke a certificate: `certs/revoke-certificate.sh .. ../<name>/cert.pem`; the coordinator
           re-reads `../ca/crl.pem` before every round and closes the session.
        6. Before certificates expire (\(d.certificateDays) days): `tally-coordinator provision --renew NAME`.

        """
    }

    static func participantSteps(_ d: FederationDescription, name: String, id: Int) -> String {
        """
        # \(d.name): \(name) (participant \(id))

        This folder is \(name)'s identity in the federation: its certificate (`cert.pem`, naming
        it `tally://participant/\(id)`), its key (`key.pem`, mode 600: it never leaves this
        machine), the federation CA and `participant.json`. Paths in it are relative: run from here.

        1. Point `participant.json` at your own data: set `data.source` to your file
           (`{"kind": "csv", "path": "/data/records.csv", "label": "outcome"}`, also `npy`,
           `safetensors`, `idx`) and `data.schema`, and set `privacyBudget` to the (ε, δ) your
           organization accepts (docs/operations.md, "Data sources" and "The participant's budget").
           As written it trains on its share of the Fashion-MNIST sample data.
        2. Check it: `tally-participant check-config --config participant.json`
        3. Run it: `tally-participant run --config participant.json` (or install
           deploy/systemd/tally-participant.service). It only dials out, to \(d.coordinator.host):\(d.coordinator.port).
        4. Watch it: your own status page at http://127.0.0.1:7481/ (ε spent against your budget).
        5. Audit: `tally-audit report data/privacy-ledger.sqlite --ca ca.crt`.
        6. Renewal: the operator sends a new `cert.pem` and `key.pem` before these expire
           (\(d.certificateDays) days from issue); replace them and restart the daemon.

        """
    }
}
