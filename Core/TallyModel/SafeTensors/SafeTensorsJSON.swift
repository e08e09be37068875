import TallyCore

/// A parsed JSON value, as far as a safetensors header needs one.
///
/// Objects keep their members in file order as a list (duplicates are rejected while parsing),
/// and integers are kept exact: offsets and shapes must not pass through `Double`.
indirect enum SafeTensorsJSON: Equatable {
    case object([(key: String, value: SafeTensorsJSON)])
    case array([SafeTensorsJSON])
    case string(String)
    case integer(Int)
    /// A number with a fraction or exponent; the header never needs one, so it is only recognised.
    case nonIntegerNumber
    case bool(Bool)
    case null

    static func == (lhs: SafeTensorsJSON, rhs: SafeTensorsJSON) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case (.nonIntegerNumber, .nonIntegerNumber), (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        default: false
        }
    }

    /// A short name for error messages.
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer: "an integer"
        case .nonIntegerNumber: "a non-integer number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    /// Appends `string` as a JSON string literal. Only `"`, `\` and control characters are
    /// escaped (always as `\u00XX`), everything else is copied as UTF-8, so one string has
    /// exactly one encoding and the writer's output is byte-deterministic.
    static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The header's JSON, parsed by TallyCore's ``JSONParser``: one object (whitespace padding
    /// after it is the format's), duplicate keys refused, integers exact (offsets and shapes must
    /// not pass through `Double`), nesting at most 32 deep.
    static func parseObject(_ bytes: [UInt8]) throws(TallyError) -> SafeTensorsJSON {
        let node: JSONNode
        do { node = try JSONParser.parse(bytes, maxDepth: 32) } catch {
            throw TallyError(.malformedSafeTensors, "header JSON at byte \(error.offset): \(error.message)")
        }
        guard case .object = node.value else {
            throw TallyError(.malformedSafeTensors, "header JSON at byte \(node.offset): the header must be a JSON object")
        }
        return try SafeTensorsJSON(node)
    }

    private init(_ node: JSONNode) throws(TallyError) {
        switch node.value {
        case .object(let members):
            var converted: [(key: String, value: SafeTensorsJSON)] = []
            for member in members { converted.append((member.key, try SafeTensorsJSON(member.node))) }
            self = .object(converted)
        case .array(let elements):
            var converted: [SafeTensorsJSON] = []
            for element in elements { converted.append(try SafeTensorsJSON(element)) }
            self = .array(converted)
        case .string(let s): self = .string(s)
        case .number(let text):
            if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                self = .nonIntegerNumber
            } else if let value = Int(text) {
                self = .integer(value)
            } else {
                throw TallyError(.malformedSafeTensors, "header JSON at byte \(node.offset): integer out of range")
            }
        case .bool(let b): self = .bool(b)
        case .null: self = .null
        }
    }
}
