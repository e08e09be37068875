import TallyCore

/// A strict RFC 8259 JSON parser for safetensors headers.
///
/// Written by hand rather than using Foundation because the header is untrusted input and the
/// format needs things JSONSerialization and Codable do not give: duplicate keys are an error
/// (not "last one wins", which would let two readers disagree on a content-addressed file),
/// integers stay exact, nesting depth is bounded, and every string is checked to be UTF-8.
struct SafeTensorsJSONParser {
    static let maxDepth = 32

    private let bytes: [UInt8]
    private var index = 0

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `bytes` as one JSON object followed only by whitespace (the format's padding).
    static func parseObject(_ bytes: [UInt8]) throws(TallyError) -> SafeTensorsJSON {
        var parser = SafeTensorsJSONParser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{") else {
            throw parser.failure("the header must be a JSON object")
        }
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected bytes after the JSON header") }
        return value
    }

    private func failure(_ what: String) -> TallyError {
        TallyError(.malformedSafeTensors, "header JSON at byte \(index): \(what)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(TallyError) -> SafeTensorsJSON {
        guard depth < Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth)") }
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of header") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObjectBody(depth: depth)
        case UInt8(ascii: "["): return try parseArrayBody(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: throw failure("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(TallyError) {
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected in
            index + count <= bytes.count && (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw failure("invalid literal") }
        index += count
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(TallyError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { throw failure("expected \(what)") }
        index += 1
    }

    /// Peeks past whitespace; consumes and returns true if the next byte is `byte`.
    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        if index < bytes.count, bytes[index] == byte {
            index += 1
            return true
        }
        return false
    }

    private mutating func parseObjectBody(depth: Int) throws(TallyError) -> SafeTensorsJSON {
        index += 1 // {
        var members: [(key: String, value: SafeTensorsJSON)] = []
        var seen: Set<String> = []
        if consume(UInt8(ascii: "}")) { return .object(members) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let keyStart = index
            let key = try parseString()
            guard seen.insert(key).inserted else {
                index = keyStart
                throw failure("duplicate key \"\(key)\"")
            }
            try expect(UInt8(ascii: ":"), "':'")
            let value = try parseValue(depth: depth + 1)
            members.append((key, value))
            if consume(UInt8(ascii: "}")) { return .object(members) }
            try expect(UInt8(ascii: ","), "',' or '}'")
        }
    }

    private mutating func parseArrayBody(depth: Int) throws(TallyError) -> SafeTensorsJSON {
        index += 1 // [
        var elements: [SafeTensorsJSON] = []
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            if consume(UInt8(ascii: "]")) { return .array(elements) }
            try expect(UInt8(ascii: ","), "',' or ']'")
        }
    }

    private mutating func parseString() throws(TallyError) -> String {
        index += 1 // opening quote
        var utf8: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw failure("string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case 0..<0x20:
                throw failure("unescaped control character in string")
            default:
                utf8.append(byte)
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(TallyError) {
        guard index < bytes.count else { throw failure("unterminated escape") }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var value = UInt32(try parseHex4())
            if (0xD800...0xDBFF).contains(value) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("unpaired surrogate in \\u escape")
                }
                index += 2
                let low = UInt32(try parseHex4())
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate in \\u escape") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(value) {
                throw failure("unpaired surrogate in \\u escape")
            }
            guard let scalar = Unicode.Scalar(value) else { throw failure("invalid \\u escape") }
            UTF8.encode(scalar) { utf8.append($0) }
        default:
            throw failure("invalid escape")
        }
    }

    private mutating func parseHex4() throws(TallyError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// RFC 8259 number grammar. Integers are accumulated exactly (negatively, so that
    /// `Int.min` parses); anything with a fraction or exponent is only validated.
    private mutating func parseNumber() throws(TallyError) -> SafeTensorsJSON {
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        func isDigit(_ i: Int) -> Bool {
            i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")
        }
        guard isDigit(index) else { throw failure("invalid number") }
        var accumulated = 0 // ≤ 0
        var overflow = false
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if isDigit(index) { throw failure("leading zero in number") }
        } else {
            while isDigit(index) {
                let digit = Int(bytes[index] - UInt8(ascii: "0"))
                let (times10, o1) = accumulated.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.subtractingReportingOverflow(digit)
                overflow = overflow || o1 || o2
                accumulated = next
                index += 1
            }
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard isDigit(index) else { throw failure("invalid fraction") }
            while isDigit(index) { index += 1 }
            isInteger = false
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard isDigit(index) else { throw failure("invalid exponent") }
            while isDigit(index) { index += 1 }
            isInteger = false
        }
        guard isInteger else { return .nonIntegerNumber }
        if negative {
            guard !overflow else { throw failure("integer out of range") }
            return .integer(accumulated)
        }
        guard !overflow, accumulated != Int.min else { throw failure("integer out of range") }
        return .integer(-accumulated)
    }
}
