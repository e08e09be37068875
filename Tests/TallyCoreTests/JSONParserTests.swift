import TallyCore
import Testing

/// The one JSON parser every outside file goes through: where readers could disagree about a
/// file, it refuses.
@Suite struct JSONParserTests {
    private func error(_ text: String) -> JSONSyntaxError? {
        do {
            _ = try JSONParser.parse(Array(text.utf8))
            return nil
        } catch { return error }
    }

    @Test(arguments: [
        ("{\"a\": 1,\n \"a\": 2}", "key \"a\" is repeated (first on line 1)"),
        ("[01]", "leading zero in a number"),
        ("[NaN]", "unexpected character 'N'"),
        ("{\"a\": 1} x", "unexpected text after the JSON value"),
        ("\"\\ud800\"", "unpaired surrogate in a \\u escape"),
        ("[1.]", "malformed number"),
        (String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "nested deeper than 64 levels"),
    ])
    func ambiguousOrMalformedTextIsRefused(text: String, message: String) throws {
        let failure = try #require(error(text), "\(text) must be refused")
        #expect(failure.message == message)
    }

    @Test func nodesKnowTheirLineAndOffsetAndNumbersStayAsWritten() throws {
        let node = try JSONParser.parse(Array("{\n  \"big\": 123456789012345678901234567890,\n  \"x\": -0.5e+3\n}".utf8))
        guard case .object(let members) = node.value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["big", "x"])
        #expect(members.map(\.line) == [2, 3])
        guard case .number(let big) = members[0].node.value, case .number(let x) = members[1].node.value else {
            Issue.record("not numbers")
            return
        }
        #expect(big == "123456789012345678901234567890" && x == "-0.5e+3")
        #expect(members[0].node.offset == 11)
    }

    @Test func aByteOrderMarkIsSkippedOnlyWhenAllowed() throws {
        let text: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{}".utf8)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
        _ = try JSONParser.parse(text, allowByteOrderMark: true)
    }
}
