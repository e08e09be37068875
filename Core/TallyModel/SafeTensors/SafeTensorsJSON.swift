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
}
