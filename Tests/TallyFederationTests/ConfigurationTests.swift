import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyParticipant
import TallyTestSupport
import TallyWire
import Testing

/// Numbers a coordinator turns into durations, counts or wire fields: each out-of-range value is
/// an error naming its key, where it used to trap inside a round.
@Suite struct CoordinatorConfigurationTests {
    func message(_ change: (inout CoordinatorConfiguration) -> Void) -> String? {
        var c = CoordinatorConfiguration()
        change(&c)
        do { try c.validate(); return nil } catch { return error.message }
    }

    @Test func outOfRangeNumbersNameTheirKey() {
        let cases: [(String, (inout CoordinatorConfiguration) -> Void)] = [
            ("syntheticDimension", { $0.syntheticDimension = -1 }),
            ("maxMessageBytes", { $0.maxMessageBytes = 100 }),
            ("maxMessageBytes", { $0.maxMessageBytes = 0 }),
            ("clipNorm", { $0.clipNorm = 1e300 }),
            ("stageTimeoutSeconds", { $0.stageTimeoutSeconds = 1e300 }),
            ("roundIntervalSeconds", { $0.roundIntervalSeconds = 1e300 }),
            ("roundIntervalSeconds", { $0.roundIntervalSeconds = -1 }),
            ("training.localEpochs", { $0.training.localEpochs = -1 }),
            ("training.batchSize", { $0.training.batchSize = -32 }),
            ("training.batchSize", { $0.training.batchSize = 1 << 40 }),
            ("training.learningRate", { $0.training.learningRate = .nan }),
            ("collusionMargin", { $0.collusionMargin = 5 }), // 3 participants cannot tolerate 5
            ("port", { $0.port = 70_000 }),
            ("host", { $0.host = "tally.example.org" }), // a name cannot be listened on
        ]
        for (key, change) in cases {
            let text = message(change)
            #expect(text?.contains(key) == true, "\(key): \(text ?? "accepted")")
        }
        // The control: with the defaults every number passes, and only the (absent) TLS files of
        // the default data directory are reported.
        #expect(message { _ in }?.hasPrefix("certificate file") == true)
    }
}

/// How a configured host is read: the coordinator listens on, and a participant dials, an IPv4
/// or IPv6 literal (brackets allowed) or, for a participant, a DNS name.
@Test func hostsAreReadAsAddressesOrNames() {
    #expect(HostAddress("127.0.0.1") == .ipv4("127.0.0.1"))
    #expect(HostAddress("::1") == .ipv6("::1"))
    #expect(HostAddress("[::1]") == .ipv6("::1"))
    #expect(HostAddress("fd00::2") == .ipv6("fd00::2"))
    for name in ["localhost", "tally.example.org", "256.1.1.1", "1.2.3", "[localhost]"] {
        #expect(HostAddress(name) == .name(name), "\(name)")
    }
    // Addresses pass the coordinator's check (the defaults then stop at the absent TLS files).
    for address in ["::1", "[::1]", "0.0.0.0", "::"] {
        var c = CoordinatorConfiguration()
        c.host = address
        do {
            try c.validate()
        } catch {
            #expect(error.message.hasPrefix("certificate file"), "\(address): \(error.message)")
        }
    }
}

/// The same for a participant daemon's configuration.
@Suite struct ParticipantConfigurationTests {
    func message(_ change: (inout ParticipantConfiguration) -> Void) -> String? {
        var c = ParticipantConfiguration()
        change(&c)
        do { try c.validate(); return nil } catch { return error.message }
    }

    @Test func outOfRangeNumbersNameTheirKey() {
        let cases: [(String, (inout ParticipantConfiguration) -> Void)] = [
            ("coordinatorPort", { $0.coordinatorPort = -1 }),
            ("coordinatorPort", { $0.coordinatorPort = 70_000 }),
            ("reconnectInitialSeconds", { $0.reconnectInitialSeconds = -1 }),
            ("reconnectInitialSeconds", { $0.reconnectInitialSeconds = 0 }),
            ("reconnectMaxSeconds", { $0.reconnectMaxSeconds = -1 }),
            ("maxMessageBytes", { $0.maxMessageBytes = 100 }),
            ("privacyBudget", { $0.privacyBudget.delta = 0 }),
            ("roundRequirements", { $0.roundRequirements.minimumThresholdFraction = 2 }),
        ]
        for (key, change) in cases {
            let text = message(change)
            #expect(text?.contains(key) == true, "\(key): \(text ?? "accepted")")
        }
        #expect(message { _ in }?.hasPrefix("certificate file") == true, "the defaults pass every number check")
    }
}

/// The fingerprint organizations pin is the one OpenSSL prints for the same certificate.
@Suite struct CertificateFingerprintTests {
    @Test func matchesOpenSSL() throws {
        let federation = try makeFederation("fingerprint", participants: 2, rounds: 1)
        defer { try? FileManager.default.removeItem(atPath: federation.options.directory) }
        let path = federation.pki + "/participant-2/cert.pem"
        let printed = try TestEnvironment.openssl(["x509", "-in", path, "-noout", "-fingerprint", "-sha256"])
        let expected = try #require(printed.split(separator: "=").last).replacingOccurrences(of: ":", with: "")
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        #expect(expected.count == 64)
        #expect(try CertificateFingerprint.sha256(pem: String(contentsOfFile: path, encoding: .utf8)) == expected)
        // Another certificate has another fingerprint.
        #expect(
            try CertificateFingerprint.sha256(pem: String(contentsOfFile: federation.pki + "/participant-1/cert.pem", encoding: .utf8))
                != expected)
    }
}

/// Configuration files are read strictly: an unknown key anywhere is refused with the file, the
/// key path, its line and the closest known key; a wrong type names its key path and line; any
/// key may be left out, at any depth, and takes the default the type declares.
@Suite struct StrictConfigurationFileTests {
    /// Writes `text` to a fresh file and returns its path.
    func file(_ text: String, _ name: String = "tally.json") throws -> String {
        let path = try TestDirectories.make("strict-config") + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The message `load` refuses the file with, or nil if it loaded.
    func coordinatorError(_ text: String) throws -> (path: String, message: String?) {
        let path = try file(text, "coordinator.json")
        do { _ = try CoordinatorConfiguration.load(path: path); return (path, nil) } catch { return (path, error.message) }
    }

    func participantError(_ text: String) throws -> (path: String, message: String?) {
        let path = try file(text, "participant.json")
        do { _ = try ParticipantConfiguration.load(path: path); return (path, nil) } catch { return (path, error.message) }
    }

    /// Decodes over the defaults as `load` does, without `validate()` (whose TLS file check
    /// needs a PKI).
    func coordinator(_ text: String) throws -> CoordinatorConfiguration {
        try StrictJSON.decode(
            CoordinatorConfiguration.self, from: Array(text.utf8), defaults: CoordinatorConfiguration(), file: "coordinator.json")
    }

    func participant(_ text: String) throws -> ParticipantConfiguration {
        try StrictJSON.decode(
            ParticipantConfiguration.self, from: Array(text.utf8), defaults: ParticipantConfiguration(), file: "participant.json")
    }

    func encoded(_ value: some Encodable) throws -> String {
        String(decoding: try StrictJSON.encode(value), as: UTF8.self)
    }

    @Test func misspelledTopLevelKeysAreRefusedWithTheClosestKey() throws {
        let clip = try coordinatorError("{\n  \"port\": 7443,\n  \"rounds\": 5,\n  \"clipnorm\": 0.3\n}\n")
        #expect(clip.message == "\(clip.path) line 4: unknown key \"clipnorm\"; did you mean \"clipNorm\"?")
        let min = try coordinatorError("{\"minParticipant\": 4}")
        #expect(min.message == "\(min.path) line 1: unknown key \"minParticipant\"; did you mean \"minParticipants\"?")
        let budget = try participantError("{\n\n  \"privacyBudjet\": {\"epsilon\": 1}\n}")
        #expect(budget.message == "\(budget.path) line 3: unknown key \"privacyBudjet\"; did you mean \"privacyBudget\"?")
        // Nothing close: refused all the same, without a guess.
        let colour = try coordinatorError("{\"colour\": \"blue\"}")
        #expect(colour.message == "\(colour.path) line 1: unknown key \"colour\"")
    }

    @Test func misspelledNestedKeysAreRefusedWithTheirPath() throws {
        let epsilon = try coordinatorError("{\n  \"privacy\": {\n    \"delta\": 1e-6,\n    \"targetEpsilom\": 3\n  }\n}")
        #expect(epsilon.message == "\(epsilon.path) line 4: unknown key \"privacy.targetEpsilom\"; did you mean \"privacy.targetEpsilon\"?")
        let directory = try participantError("{\"data\": {\n\"fashionMnistDirectory\": \"/data\"}}")
        #expect(
            directory.message
                == "\(directory.path) line 2: unknown key \"data.fashionMnistDirectory\"; did you mean \"data.fashionMNISTDirectory\"?")
        let certificate = try participantError("{\"tls\": {\"certficate\": \"a.pem\"}}")
        #expect(certificate.message == "\(certificate.path) line 1: unknown key \"tls.certficate\"; did you mean \"tls.certificate\"?")
        let fraction = try participantError("{\"roundRequirements\": {\"minimumCohort\": 3,\n \"minimumTresholdFraction\": 0.6}}")
        #expect(
            fraction.message
                == "\(fraction.path) line 2: unknown key \"roundRequirements.minimumTresholdFraction\"; did you mean \"roundRequirements.minimumThresholdFraction\"?"
        )
        // A nested key written at the top level points to where it belongs.
        let seed = try coordinatorError("{\"seed\": 7}")
        #expect(seed.message == "\(seed.path) line 1: unknown key \"seed\"; did you mean \"training.seed\"?")
    }

    @Test func wrongTypesNameTheKeyPathAndLine() throws {
        let seed = try coordinatorError("{\n  \"training\": {\n    \"seed\": \"seven\"\n  }\n}")
        #expect(seed.message == "\(seed.path) line 3: \"training.seed\" must be a non-negative integer, not the string \"seven\"")
        let port = try participantError("{\"coordinatorHost\": \"example.org\",\n\"coordinatorPort\": \"7443\"}")
        #expect(port.message == "\(port.path) line 2: \"coordinatorPort\" must be an integer, not the string \"7443\"")
        let privacy = try coordinatorError("{\n\"privacy\": 5}")
        #expect(privacy.message == "\(privacy.path) line 2: \"privacy\" must be an object, not the number 5")
        let clip = try coordinatorError("{\"clipNorm\": null}")
        #expect(clip.message == "\(clip.path) line 1: \"clipNorm\" must be a number, not null")
        let allowed = try coordinatorError("{\"allowedParticipants\": [\n1,\n\"two\"]}")
        #expect(
            allowed.message == "\(allowed.path) line 3: \"allowedParticipants[1]\" must be a non-negative integer, not the string \"two\"")
    }

    @Test func malformedFilesAreRefusedWithALine() throws {
        let comma = try coordinatorError("{\n\"port\": 1,\n}")
        #expect(comma.message?.hasPrefix("\(comma.path) line 3: not valid JSON") == true, "\(comma.message ?? "accepted")")
        let repeated = try coordinatorError("{\"port\": 1,\n\"port\": 2}")
        #expect(repeated.message == "\(repeated.path) line 2: not valid JSON: key \"port\" is repeated (first on line 1)")
        let array = try coordinatorError("[]")
        #expect(array.message?.contains("one JSON object") == true, "\(array.message ?? "accepted")")
    }

    @Test func anEmptyObjectLoadsAsTheDefaults() throws {
        #expect(try encoded(coordinator("{}")) == encoded(CoordinatorConfiguration()))
        #expect(try encoded(participant(" {\n}\n")) == encoded(ParticipantConfiguration()))
    }

    @Test func nestedKeysMayBeLeftOut() throws {
        let c = try coordinator(
            "{\"training\": {\"seed\": 7}, \"privacy\": {\"noiseMultiplier\": 0.5}, \"tls\": {\"privateKey\": \"k.pem\"}}")
        var expected = CoordinatorConfiguration()
        expected.training.seed = 7
        expected.privacy.noiseMultiplier = 0.5
        expected.tls.privateKey = "k.pem"
        #expect(try encoded(c) == encoded(expected))
        #expect(c.training.localEpochs == TrainingSettings().localEpochs && c.training.seed == 7)
        #expect(c.privacy.targetEpsilon == PrivacySettings().targetEpsilon && c.privacy.delta == PrivacySettings().delta)

        let p = try participant(
            "{\"data\": {\"index\": 2}, \"privacyBudget\": {\"delta\": 1e-6}, \"roundRequirements\": {\"minimumCohort\": 4}}")
        var expectedParticipant = ParticipantConfiguration()
        expectedParticipant.data.index = 2
        expectedParticipant.privacyBudget.delta = 1e-6
        expectedParticipant.roundRequirements.minimumCohort = 4
        #expect(try encoded(p) == encoded(expectedParticipant))
        #expect(p.data.fashionMNISTDirectory == ParticipantConfiguration.DataSource().fashionMNISTDirectory)
        #expect(p.privacyBudget.epsilon == ParticipantConfiguration.PrivacyBudget().epsilon)
    }

    @Test func nullTurnsOffADefaultThatIsNotNil() throws {
        #expect(CoordinatorConfiguration().evaluationData != nil)
        #expect(try coordinator("{\"evaluationData\": null}").evaluationData == nil)
        #expect(try coordinator("{\"privacy\": {\"targetEpsilon\": null, \"noiseMultiplier\": 1.5}}").privacy.targetEpsilon == nil)
    }

    /// The files `tally-coordinator demo` and the tests write (LocalFederation encodes the real
    /// types) load back as the configurations written, nil evaluation data included.
    @Test func theDemoFilesLoadAsWritten() throws {
        let federation = try makeFederation("strict-demo", participants: 2, rounds: 1)
        defer { try? FileManager.default.removeItem(atPath: federation.options.directory) }
        let coordinator = try CoordinatorConfiguration.load(path: federation.coordinatorConfig)
        #expect(coordinator.evaluationData == nil)
        #expect(try encoded(coordinator) == encoded(federation.coordinatorConfiguration()))
        for i in 1...2 {
            let participant = try ParticipantConfiguration.load(path: federation.participantConfig(i))
            #expect(try encoded(participant) == encoded(federation.participantConfiguration(i)))
        }
    }

    /// The keys a file may use are the property names: this holds while the synthesized coding
    /// keys are used, and is what lets nil optionals be allowed (their names come from Mirror).
    @Test func everyPropertyIsAKey() throws {
        func check(_ value: Any, _ json: Any, _ path: String) {
            let labels = Set(Mirror(reflecting: value).children.compactMap(\.label))
            guard let object = json as? [String: Any] else { Issue.record("\(path) is not an object"); return }
            #expect(Set(object.keys) == labels, "\(path)")
            for child in Mirror(reflecting: value).children where Mirror(reflecting: child.value).displayStyle == .struct {
                if let label = child.label, object[label] is [String: Any] { check(child.value, object[label]!, path + "." + label) }
            }
        }
        for value in [CoordinatorConfiguration() as any Encodable, ParticipantConfiguration() as any Encodable] {
            let json = try JSONSerialization.jsonObject(with: Data(StrictJSON.encode(value)))
            check(value, json, "\(type(of: value))")
        }
    }
}

/// docs/operations.md documents every key of both files with the default the code declares, and
/// its example files load: a key added, renamed or given another default fails here until the
/// table says so.
@Suite struct ConfigurationDocumentationTests {
    struct Section {
        var rows: [(key: String, value: String)] = []
        var example: String?
    }

    /// The `### … (coordinator.json)` and `### … (participant.json)` sections: table rows and
    /// the first JSON block of each.
    func sections() throws -> [String: Section] {
        let text = try String(contentsOfFile: TestEnvironment.repositoryRoot + "/docs/operations.md", encoding: .utf8)
        var result: [String: Section] = [:]
        var current: String?
        var block: [String]?
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("#") {
                current =
                    line.contains("(`coordinator.json`)") ? "coordinator" : line.contains("(`participant.json`)") ? "participant" : nil
                continue
            }
            guard let name = current else { continue }
            if var lines = block {
                if line == "```" {
                    if result[name, default: Section()].example == nil {
                        result[name, default: Section()].example = lines.joined(separator: "\n")
                    }
                    block = nil
                } else {
                    lines.append(line)
                    block = lines
                }
            } else if line == "```json" {
                block = []
            } else if line.hasPrefix("| `") {
                let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }
                result[name, default: Section()].rows.append((cells[0], cells[2]))
            }
        }
        return result
    }

    /// Every key path whose value is not an object, in the file `StrictJSON` writes for `value`.
    func leaves(_ json: Any, _ prefix: String = "") -> Set<String> {
        guard let object = json as? [String: Any] else { return [prefix] }
        return object.reduce(into: Set<String>()) { $0.formUnion(leaves($1.value, prefix.isEmpty ? $1.key : prefix + "." + $1.key)) }
    }

    func check<T: Codable>(_ section: Section?, defaults: T) throws {
        let section = try #require(section)
        let defaultText = try StrictJSON.encode(defaults)
        let keys = leaves(try JSONSerialization.jsonObject(with: Data(defaultText)))
        #expect(Set(section.rows.map(\.key)) == keys, "\(T.self): the table's keys are the configuration's")
        #expect(section.rows.count == keys.count, "\(T.self): each key once")
        for (key, value) in section.rows {
            // The documented default, alone in a file, loads as the defaults.
            let text = key.split(separator: ".").reversed().reduce(value) { "{\"\($1)\": \($0)}" }
            let decoded = try StrictJSON.decode(T.self, from: Array(text.utf8), defaults: defaults, file: "table")
            #expect(try StrictJSON.encode(decoded) == defaultText, "\(T.self): the documented default of \(key) is \(value)")
        }
        let example = try #require(section.example)
        _ = try StrictJSON.decode(T.self, from: Array(example.utf8), defaults: defaults, file: "example")
        #expect(leaves(try JSONSerialization.jsonObject(with: Data(example.utf8))) == keys, "\(T.self): the example has every key")
    }

    @Test func everyKeyIsDocumentedWithItsDefault() throws {
        let documented = try sections()
        try check(documented["coordinator"], defaults: CoordinatorConfiguration())
        try check(documented["participant"], defaults: ParticipantConfiguration())
    }
}

/// A member's certificate given as the federation CA is refused when the configuration is
/// checked, naming the file (it used to surface later as "the revocation list is not signed").
@Suite struct CertificateAuthorityFileTests {
    @Test func aNonCACertificateIsNotAcceptedAsTheCA() throws {
        let pki = TestPKI.shared.directory
        var files = TLSFiles(directory: pki + "/participant-1")
        try files.validate() // control: the real CA passes
        files.certificateAuthority = pki + "/participant-2/cert.pem"
        #expect(throws: TallyError.self) { try files.validate() }
        do { try files.validate() } catch {
            #expect(error.message.contains("participant-2/cert.pem") && error.message.contains("not a CA certificate"), "\(error.message)")
        }
    }
}

/// A number the key's type cannot hold is reported at its key and line (the decoder names no
/// key for it, and the message used to be "the top level must be an object, not an object").
@Suite struct UnrepresentableNumberTests {
    @Test(arguments: [
        ("{\n  \"rounds\": 3,\n  \"allowedParticipants\": [-1]\n}", "line 3: \"allowedParticipants\" cannot hold [-1]"),
        ("{\"training\": {\"seed\": -1}}", "\"training.seed\" cannot hold -1"),
        ("{\"minParticipants\": 1.5}", "\"minParticipants\" cannot hold 1.5"),
        ("{\"port\": 1e30}", "\"port\" cannot hold 1e30"),
    ])
    func theKeyIsNamed(text: String, expected: String) {
        do {
            _ = try StrictJSON.decode(CoordinatorConfiguration.self, from: Array(text.utf8), defaults: .init(), file: "coordinator.json")
            Issue.record("\(text) decoded")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}

/// The demo refuses values that would trap or mislead later, before it starts anything.
@Suite struct DemoOptionTests {
    @Test(arguments: [
        (["--participants", "0"], "--participants"), (["--epsilon", "nan"], "--epsilon"), (["--alpha", "0"], "--alpha"),
        (["--clip-norm", "1e300"], "--clip-norm"),
    ])
    func badOptionsAreRefusedByName(arguments: [String], option: String) async throws {
        let directory = try TestDirectories.make("demo-options")
        let run = try await Subprocess.run(
            TestEnvironment.executables + "/tally-coordinator", ["demo", "--directory", directory + "/demo"] + arguments,
            timeout: .seconds(60))
        #expect(run.status != 0 && run.output.contains(option), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/demo/pki"), "nothing was started")
    }
}

/// The demo stopped with SIGTERM (as `timeout` does) stops every process it started.
@Suite struct DemoSignalTests {
    @Test func aTerminatedDemoLeavesNoProcessBehind() async throws {
        let directory = try TestDirectories.make("demo-sigterm") + "/demo"
        let demo = try Subprocess(
            TestEnvironment.executables + "/tally-coordinator",
            ["demo", "--directory", directory, "--participants", "3", "--rounds", "1000", "--privacy-unit", "organization"])
        defer { demo.stop(signal: SIGKILL) }
        func running() -> [String] {
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return pids.filter { Int32($0) != nil }.compactMap { pid in
                guard let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return nil }
                return command.contains(directory) && pid != "\(demo.processIdentifier)" ? pid : nil
            }
        }
        #expect(await waitUntil(60) { running().count >= 4 }, "a coordinator and 3 participants: \(demo.capturedOutput)")
        kill(demo.processIdentifier, SIGTERM)
        #expect(await demo.exited(within: .seconds(30)) != nil)
        #expect(await waitUntil(15) { running().isEmpty }, "left running: \(running())")
    }
}
