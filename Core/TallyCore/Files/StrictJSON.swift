internal import Foundation

/// Strict reading of JSON settings files over a type's own defaults.
///
/// The keys a file may use, and the value each takes when absent, come from one place: the
/// default instance of the type (`T()` in the loaders). Its JSON encoding gives every key with a
/// value; `Mirror` adds the optional properties whose default is nil (the encoder leaves them
/// out). A key the default does not have, at any depth, is an error naming the file, the key
/// path, its line and the closest known key; the file is then laid over the default tree
/// (objects merge key by key, anything else replaces) and decoded with the type's synthesized
/// `Decodable`, so a value of the wrong type is an error naming its key path and line too.
///
/// This relies on the synthesized coding keys being the property names (checked by the tests of
/// each configuration type). Objects are checked key by key where the default has an object;
/// arrays and optionals whose default is nil are checked by their type only.
public enum StrictJSON {
    /// Decodes `bytes` (the text of `file`, named in every error) over `defaults`.
    public static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8], defaults: T, file: String) throws(TallyError) -> T {
        let given = try parse(bytes, file: file)
        guard case .object = given.value else {
            throw TallyError(.invalidArgument, "\(file) line \(given.line): the file must hold one JSON object ({ … })")
        }
        let schema = try defaultTree(defaults)
        try checkKeys(given, schema: schema, path: [], root: schema, file: file)
        let merged = merge(given, over: schema)
        do {
            return try JSONDecoder().decode(T.self, from: Data(serialize(merged, pretty: false).utf8))
        } catch let error as DecodingError {
            // The decoder names no key for a number its type cannot hold (-1 for an unsigned
            // integer, 1.5 for an integer): find the key by trying each of the file's alone.
            if codingPath(of: error).isEmpty, let (path, line, node) = culprit(T.self, given: given, schema: schema) {
                throw TallyError(
                    .invalidArgument,
                    "\(file) line \(line): \"\(path.joined(separator: "."))\" cannot hold \(serialize(node, pretty: false).prefix(60)): a number out of range, or not a whole number, for this key"
                )
            }
            throw describe(error, in: merged, schema: schema, file: file)
        } catch {
            throw TallyError(.invalidArgument, "\(file) is not valid", cause: error)
        }
    }

    /// Reads the file at `path` (at most `maxBytes`) and decodes it over `defaults`.
    public static func load<T: Codable>(
        _ type: T.Type, path: String, defaults: T, maxBytes: Int = 1 << 20,
        what: String = "configuration"
    ) throws(TallyError) -> T {
        try decode(type, from: BoundedFile.read(path, maxBytes: maxBytes, what: what), defaults: defaults, file: path)
    }

    /// `value` as a pretty-printed JSON object with every key, sorted, nil optionals as `null`:
    /// a file that ``decode(_:from:defaults:file:)`` reads back as the same value even where a
    /// nil replaces a non-nil default (which the synthesized encoding would leave out).
    public static func encode<T: Encodable>(_ value: T) throws(TallyError) -> [UInt8] {
        let tree = try defaultTree(value)
        return Array((serialize(tree, pretty: true) + "\n").utf8)
    }

    // MARK: The tree

    typealias Node = JSONNode
    typealias Member = JSONNode.Member
    typealias Value = JSONNode.Value

    /// The JSON of `value` with every key: the encoder's, plus `null` for each optional property
    /// whose value is nil, at every depth; members sorted by key.
    static func defaultTree(_ value: some Encodable) throws(TallyError) -> Node {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes: [UInt8]
        do { bytes = Array(try encoder.encode(value)) } catch {
            throw TallyError(.invalidArgument, "cannot encode \(type(of: value))", cause: error)
        }
        var tree = try parse(bytes, file: "\(type(of: value))")
        addNils(&tree, from: value)
        return clearLines(tree)
    }

    private static func addNils(_ node: inout Node, from value: Any) {
        guard case .object(var members) = node.value else { return }
        for child in Mirror(reflecting: value).children {
            guard let label = child.label else { continue }
            if let index = members.firstIndex(where: { $0.key == label }) {
                if let wrapped = unwrap(child.value) { addNils(&members[index].node, from: wrapped) }
            } else if unwrap(child.value) == nil {
                members.append(Member(key: label, line: 0, node: Node(line: 0, value: .null)))
            }
        }
        node.value = .object(members.sorted { $0.key < $1.key })
    }

    /// The value inside any depth of `Optional`, or nil.
    private static func unwrap(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        guard let first = mirror.children.first else { return nil }
        return unwrap(first.value)
    }

    private static func clearLines(_ node: Node) -> Node {
        switch node.value {
        case .object(let members):
            return Node(line: 0, value: .object(members.map { Member(key: $0.key, line: 0, node: clearLines($0.node)) }))
        case .array(let elements):
            return Node(line: 0, value: .array(elements.map(clearLines)))
        default:
            return Node(line: 0, value: node.value)
        }
    }

    // MARK: Checking and merging

    private static func checkKeys(_ given: Node, schema: Node, path: [String], root: Node, file: String) throws(TallyError) {
        guard case .object(let members) = given.value, case .object(let known) = schema.value else { return }
        for member in members {
            let keyPath = (path + [member.key]).joined(separator: ".")
            guard let match = known.first(where: { $0.key == member.key }) else {
                var message = "\(file) line \(member.line): unknown key \"\(keyPath)\""
                if let suggestion = suggestion(for: member.key, siblings: known.map(\.key), path: path, root: root) {
                    message += "; did you mean \"\(suggestion)\"?"
                }
                throw TallyError(.invalidArgument, message)
            }
            try checkKeys(member.node, schema: match.node, path: path + [member.key], root: root, file: file)
        }
    }

    /// The file's values over the defaults: objects key by key, anything else as the file has it.
    private static func merge(_ given: Node, over base: Node) -> Node {
        guard case .object(let members) = given.value, case .object(var result) = base.value else { return given }
        for member in members {
            if let index = result.firstIndex(where: { $0.key == member.key }) {
                result[index] = Member(key: member.key, line: member.line, node: merge(member.node, over: result[index].node))
            } else {
                result.append(member)
            }
        }
        return Node(line: given.line, value: .object(result))
    }

    // MARK: Suggestions

    /// The closest known key: a sibling equal but for case or a few edits; else a key elsewhere
    /// in the tree whose last name is (`seed` at the top level: `training.seed`).
    static func suggestion(for key: String, siblings: [String], path: [String], root: Node) -> String? {
        func best(_ candidates: [(name: String, full: String)]) -> String? {
            guard let name = closest(to: key, in: candidates.map(\.name)) else { return nil }
            return candidates.first { $0.name == name }?.full
        }
        let prefix = path.isEmpty ? "" : path.joined(separator: ".") + "."
        if let sibling = best(siblings.map { (name: $0, full: prefix + $0) }) { return sibling }
        var elsewhere: [(name: String, full: String)] = []
        func collect(_ node: Node, _ at: [String]) {
            guard case .object(let members) = node.value else { return }
            for m in members {
                if at != path { elsewhere.append((name: m.key, full: (at + [m.key]).joined(separator: "."))) }
                collect(m.node, at + [m.key])
            }
        }
        collect(root, [])
        return best(elsewhere)
    }

    /// The candidate closest to `word`: equal but for case or a few edits (at most a third of the
    /// candidate's length, 1 to 3); nil when none is that close. Every "did you mean" uses it.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        var found: (distance: Int, name: String)?
        for candidate in candidates {
            let d = editDistance(word.lowercased(), candidate.lowercased())
            let limit = min(3, max(1, candidate.count / 3))
            if d <= limit, found == nil || d < found!.distance { found = (d, candidate) }
        }
        return found?.name
    }

    /// Edits (insert, delete, substitute, swap two neighbours) between two strings.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }

    // MARK: Decoding errors

    private static func codingPath(of error: DecodingError) -> [any CodingKey] {
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): c.codingPath
        case .keyNotFound(let key, let c): c.codingPath + [key]
        @unknown default: []
        }
    }

    /// The first value of the file (an object's member, at any depth; an array counts as one
    /// value) that alone, over the defaults, does not decode: its key path, line and node.
    private static func culprit<T: Decodable>(_ type: T.Type, given: Node, schema: Node) -> ([String], Int, Node)? {
        func values(_ node: Node, _ path: [String], _ line: Int) -> [([String], Int, Node)] {
            guard case .object(let members) = node.value, !members.isEmpty else { return [(path, line, node)] }
            return members.flatMap { values($0.node, path + [$0.key], $0.line) }
        }
        for (path, line, node) in values(given, [], given.line) where !path.isEmpty {
            let alone = path.reversed().reduce(node) { inner, key in Node(line: 0, value: .object([Member(key: key, line: 0, node: inner)]))
            }
            let text = serialize(merge(alone, over: schema), pretty: false)
            if (try? JSONDecoder().decode(T.self, from: Data(text.utf8))) == nil { return (path, line, node) }
        }
        return nil
    }

    private static func describe(_ error: DecodingError, in merged: Node, schema: Node, file: String) -> TallyError {
        let context: DecodingError.Context
        var expected: String?
        switch error {
        case .typeMismatch(let type, let c): context = c; expected = typeName(type)
        case .valueNotFound(let type, let c): context = c; expected = typeName(type)
        case .keyNotFound(let key, let c):
            context = DecodingError.Context(codingPath: c.codingPath + [key], debugDescription: c.debugDescription)
        case .dataCorrupted(let c): context = c
        @unknown default: return TallyError(.invalidArgument, "\(file) is not valid", cause: error)
        }
        let keys = context.codingPath
        var location = file
        var found: Node?
        if let at = lookup(keys, in: merged) {
            found = at.node
            if at.line > 0 { location += " line \(at.line)" }
        }
        if let at = lookup(keys, in: schema), case .object = at.node.value { expected = "an object" }
        let name = keys.isEmpty ? "the top level" : "\"\(pathText(keys))\""
        if let expected, let found {
            return TallyError(.invalidArgument, "\(location): \(name) must be \(expected), not \(describe(found))")
        }
        return TallyError(.invalidArgument, "\(location): invalid value for \(name): \(context.debugDescription)")
    }

    /// The node at a coding path and the line of its key (or element).
    private static func lookup(_ keys: [any CodingKey], in root: Node) -> (node: Node, line: Int)? {
        var node = root, line = root.line
        for key in keys {
            switch node.value {
            case .object(let members):
                guard let m = members.first(where: { $0.key == key.stringValue }) else { return nil }
                node = m.node; line = m.line
            case .array(let elements):
                guard let i = key.intValue, elements.indices.contains(i) else { return nil }
                node = elements[i]; line = node.line
            default:
                return nil
            }
        }
        return (node, line)
    }

    private static func pathText(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }

    private static func typeName(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "Int", "Int32", "Int64": return "an integer"
        case "UInt", "UInt8", "UInt16", "UInt32", "UInt64": return "a non-negative integer"
        case "Double", "Float": return "a number"
        case "String": return "a string"
        case "Bool": return "true or false"
        default:
            if name.hasPrefix("Array<") { return "an array" }
            if name.hasPrefix("Dictionary<") { return "an object" }
            return name
        }
    }

    private static func describe(_ node: Node) -> String {
        switch node.value {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let s): return "the string \(serialize(Node(line: 0, value: .string(String(s.prefix(60)))), pretty: false))"
        case .number(let n): return "the number \(n.prefix(40))"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }

    // MARK: Writing

    static func serialize(_ node: Node, pretty: Bool, indent: String = "") -> String {
        switch node.value {
        case .object(let members):
            guard !members.isEmpty else { return "{}" }
            let inner = indent + "  "
            let separator = pretty ? ": " : ":"
            let items = members.map { (m: Member) -> String in
                let key = serialize(Node(line: 0, value: .string(m.key)), pretty: false)
                return key + separator + serialize(m.node, pretty: pretty, indent: inner)
            }
            return wrap(items, "{", "}", pretty: pretty, indent: indent)
        case .array(let elements):
            guard !elements.isEmpty else { return "[]" }
            let inner = indent + "  "
            let items = elements.map { serialize($0, pretty: pretty, indent: inner) }
            return wrap(items, "[", "]", pretty: pretty, indent: indent)
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// `items` between `open` and `close`: one line each, indented, when pretty.
    private static func wrap(_ items: [String], _ open: String, _ close: String, pretty: Bool, indent: String) -> String {
        guard pretty else { return open + items.joined(separator: ",") + close }
        let inner = indent + "  "
        let lines = items.map { inner + $0 }.joined(separator: ",\n")
        return open + "\n" + lines + "\n" + indent + close
    }

    /// `bytes` parsed by ``JSONParser``, a syntax error naming the file and line.
    private static func parse(_ bytes: [UInt8], file: String) throws(TallyError) -> Node {
        do {
            return try JSONParser.parse(bytes, allowByteOrderMark: true)
        } catch {
            throw TallyError(.invalidArgument, "\(file) line \(error.line): not valid JSON: \(error.message)")
        }
    }
}
