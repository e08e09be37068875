import TallyCore

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
        if let near = StrictJSON.closest(to: key, in: known) { text += "; did you mean \"\(near)\"?" }
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
}
