/// Any key of a JSON object, for decoders that look at every key the file has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Unknown-key checks inside a custom `init(from:)`.
///
/// ``StrictJSON`` checks keys only where the default value has an object; a data source or a
/// schema sits under an optional whose default is nil, so they refuse unknown keys themselves.
/// The error is a `DecodingError` whose coding path ends at the bad key: ``StrictJSON`` turns it
/// into a message with the file, the key path and its line.
enum StrictKeys {
    static func check(_ decoder: any Decoder, known: [String], in what: String) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard let key = unknown.first else { return }
        var text = "unknown key \"\(key)\" in \(what)"
        if let near = closest(to: key, in: known) { text += "; did you mean \"\(near)\"?" }
        throw DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: container.codingPath + [AnyCodingKey(stringValue: key) as any CodingKey], debugDescription: text))
    }

    /// A value the decoder accepted by type but the format does not allow.
    static func invalid(_ decoder: any Decoder, _ key: String?, _ text: String) -> DecodingError {
        var path = decoder.codingPath
        if let key { path.append(AnyCodingKey(stringValue: key)) }
        return DecodingError.dataCorrupted(DecodingError.Context(codingPath: path, debugDescription: text))
    }

    /// The candidate closest to `word` (case-insensitive edit distance at most a third of its
    /// length, at least 1, at most 3), or nil.
    static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (distance: Int, name: String)?
        for candidate in candidates {
            let d = editDistance(Array(word.lowercased()), Array(candidate.lowercased()))
            let limit = min(3, max(1, candidate.count / 3))
            if d <= limit, best == nil || d < best!.distance { best = (d, candidate) }
        }
        return best?.name
    }

    /// Edits (insert, delete, substitute, swap two neighbours) between two strings.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
