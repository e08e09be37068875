/// A parsed JSON value, where it starts (line, byte offset), and for objects the members in file
/// order. Numbers stay as written, so no reader rounds or truncates them by accident: a
/// configuration decodes them with its types, a safetensors header takes them as exact integers.
public struct JSONNode: Sendable {
    /// 1-based line of the value's first byte (0 where it did not come from a file).
    public var line: Int
    /// Byte offset of the value's first byte.
    public var offset: Int
    public var value: Value

    public init(line: Int, offset: Int = 0, value: Value) {
        self.line = line
        self.offset = offset
        self.value = value
    }

    public indirect enum Value: Sendable {
        case object([Member])
        case array([JSONNode])
        case string(String)
        /// The number as written (RFC 8259 syntax checked).
        case number(String)
        case bool(Bool)
        case null
    }

    public struct Member: Sendable {
        public var key: String
        /// Line of the key.
        public var line: Int
        public var node: JSONNode

        public init(key: String, line: Int, node: JSONNode) {
            self.key = key
            self.line = line
            self.node = node
        }
    }
}

/// Where and why a JSON text is not valid; each reader words it for its own file.
public struct JSONSyntaxError: Error, Sendable {
    public let line: Int
    public let offset: Int
    public let message: String
}

/// The one strict RFC 8259 parser for JSON read from outside: configuration files, safetensors
/// headers, trainer results. Strict where lenient parsers let two readers disagree about one
/// file: a duplicate key is an error (not "first" or "last wins"), strings must be UTF-8, numbers
/// follow the grammar exactly (no leading zeros, no NaN), and nesting is bounded.
public enum JSONParser {
    /// Parses `bytes` as exactly one JSON value, surrounded only by whitespace.
    /// - Parameter allowByteOrderMark: skip a leading UTF-8 byte order mark (text files written
    ///   by some editors); formats that forbid one (safetensors) leave it off.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64, allowByteOrderMark: Bool = false) throws(JSONSyntaxError) -> JSONNode {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        if allowByteOrderMark, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        return try parser.parseDocument()
    }

    private struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0
        var line = 1

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
            skipSpace()
            let node = try parseValue(depth: 0)
            skipSpace()
            guard index == bytes.count else { throw fail("unexpected text after the JSON value") }
            return node
        }

        private func fail(_ message: String) -> JSONSyntaxError {
            JSONSyntaxError(line: line, offset: index, message: message)
        }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func skipSpace() {
            while let c = current {
                switch c {
                case 0x20, 0x09, 0x0D: index += 1
                case 0x0A:
                    line += 1
                    index += 1
                default: return
                }
            }
        }

        private mutating func expect(_ c: UInt8, _ what: String) throws(JSONSyntaxError) {
            guard current == c else { throw fail("expected \(what)") }
            index += 1
        }

        private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONNode {
            guard depth <= maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
            let start = line, offset = index
            func node(_ value: JSONNode.Value) -> JSONNode { JSONNode(line: start, offset: offset, value: value) }
            guard let c = current else { throw fail("unexpected end of the text") }
            switch c {
            case UInt8(ascii: "{"):
                index += 1
                var members: [JSONNode.Member] = []
                var keyLines: [String: Int] = [:]
                skipSpace()
                if current == UInt8(ascii: "}") {
                    index += 1
                    return node(.object(members))
                }
                while true {
                    skipSpace()
                    let keyLine = line
                    guard current == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes") }
                    let key = try parseString()
                    if let first = keyLines[key] { throw fail("key \"\(key)\" is repeated (first on line \(first))") }
                    keyLines[key] = keyLine
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "':' after the key \"\(key)\"")
                    skipSpace()
                    let value = try parseValue(depth: depth + 1)
                    members.append(JSONNode.Member(key: key, line: keyLine, node: value))
                    skipSpace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect(UInt8(ascii: "}"), "',' or '}' after the value of \"\(key)\"")
                    return node(.object(members))
                }
            case UInt8(ascii: "["):
                index += 1
                var elements: [JSONNode] = []
                skipSpace()
                if current == UInt8(ascii: "]") {
                    index += 1
                    return node(.array(elements))
                }
                while true {
                    skipSpace()
                    elements.append(try parseValue(depth: depth + 1))
                    skipSpace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect(UInt8(ascii: "]"), "',' or ']' in an array")
                    return node(.array(elements))
                }
            case UInt8(ascii: "\""):
                return node(.string(try parseString()))
            case UInt8(ascii: "t"):
                try literal("true")
                return node(.bool(true))
            case UInt8(ascii: "f"):
                try literal("false")
                return node(.bool(false))
            case UInt8(ascii: "n"):
                try literal("null")
                return node(.null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return node(.number(try parseNumber()))
            default:
                throw fail("unexpected character '\(String(decoding: [c], as: UTF8.self))'")
            }
        }

        private mutating func literal(_ word: String) throws(JSONSyntaxError) {
            let w = Array(word.utf8)
            guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
                throw fail("expected \(word)")
            }
            index += w.count
        }

        private mutating func parseNumber() throws(JSONSyntaxError) -> String {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
                if digits() > 0 { throw fail("leading zero in a number") }
            } else if digits() == 0 {
                throw fail("malformed number")
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw fail("malformed number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw fail("malformed number") }
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// Skips decimal digits and says how many.
        private mutating func digits() -> Int {
            var n = 0
            while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
                index += 1
                n += 1
            }
            return n
        }

        private mutating func parseString() throws(JSONSyntaxError) -> String {
            index += 1 // the opening quote
            var out: [UInt8] = []
            while true {
                guard let c = current else { throw fail("unterminated string") }
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = current else { throw fail("unterminated string") }
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard current == UInt8(ascii: "\\") else { throw fail("unpaired surrogate in a \\u escape") }
                            index += 1
                            guard current == UInt8(ascii: "u") else { throw fail("unpaired surrogate in a \\u escape") }
                            index += 1
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in a \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw fail("invalid escape in a string")
                    }
                default:
                    guard c >= 0x20 else { throw fail(c == 0x0A ? "unterminated string" : "control character in a string") }
                    out.append(c)
                }
            }
        }

        private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            let isHex: (UInt8) -> Bool = { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
            guard index + 4 <= bytes.count, bytes[index..<index + 4].allSatisfy(isHex),
                let v = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
            else {
                throw fail("invalid \\u escape")
            }
            index += 4
            return v
        }
    }
}
