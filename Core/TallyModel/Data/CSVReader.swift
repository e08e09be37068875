public import TallyCore

/// Reads a labelled CSV file (RFC 4180: a header row, comma-separated fields, fields with
/// commas, quotes or line breaks in double quotes, a quote inside written twice) against a
/// ``DataSchema``.
///
/// Feature columns are found by the schema's feature names, in whatever order the file has
/// them, and other columns are ignored, so a site can keep its own extra columns (identifiers,
/// dates) in the file it already has. The label column holds a class index or a class name.
///
/// The file is streamed in chunks and parsed from bytes: memory is the parsed floats plus one
/// chunk, not the text as well. Every refusal names the file, the line and the column (its
/// number and header name), since a site fixing a million-row export needs to find the cell.
public enum CSVReader {
    /// Bytes read at a time.
    static let chunkBytes = 1 << 20

    /// Loads `path`, at most `maxBytes` long, into a dataset in the schema's feature order.
    public static func read(path: String, schema: DataSchema, labelColumn: String, maxBytes: Int) throws(TallyError) -> Dataset {
        try read(path: path, schema: schema, labelColumn: labelColumn, maxBytes: maxBytes, chunkBytes: chunkBytes)
    }

    /// `chunkBytes` small lets the tests put records across chunk boundaries.
    static func read(path: String, schema: DataSchema, labelColumn: String, maxBytes: Int, chunkBytes: Int) throws(TallyError) -> Dataset {
        guard let featureNames = schema.featureNames else {
            throw TallyError(
                .dataSchemaMismatch, "\(path): a CSV source needs a schema with featureNames (its columns are matched by name)")
        }
        let tokenizer = try CSVTokenizer(file: ChunkedFile(path, maxBytes: maxBytes, what: "CSV data"), chunkBytes: chunkBytes)
        func at(_ line: Int, _ column: Int? = nil, _ name: String? = nil) -> String {
            var text = "\(path) line \(line)"
            if let column { text += ", column \(column)" }
            if let name { text += " (\"\(name)\")" }
            return text
        }

        // The header: names (trimmed of surrounding spaces) to columns.
        guard try tokenizer.nextRecord() else {
            throw TallyError(.malformedDataset, "\(at(1, 1)): the file is empty; expected a header row naming the columns")
        }
        let header = tokenizer.fields.indices.map { tokenizer.text(of: $0).trimmingSpaces() }
        var columnOf: [String: Int] = [:]
        for (column, name) in header.enumerated() {
            if let first = columnOf[name] {
                throw TallyError(
                    .malformedDataset,
                    "\(at(tokenizer.fields[column].line, column + 1, name)): duplicate header; column \(first + 1) has that name too")
            }
            columnOf[name] = column
        }
        func missing(_ name: String, _ role: String) -> TallyError {
            var text = "\(at(1)): no column \"\(name)\" for \(role) in the header"
            if let near = StrictJSON.closest(to: name, in: header) { text += "; did you mean \"\(near)\"?" }
            return TallyError(
                .dataSchemaMismatch, text + " (columns: \(header.prefix(20).joined(separator: ", "))\(header.count > 20 ? ", …" : ""))")
        }
        guard let labelIndex = columnOf[labelColumn] else { throw missing(labelColumn, "the label (labelColumn)") }
        guard !featureNames.contains(labelColumn) else {
            throw TallyError(.dataSchemaMismatch, "\(path): the label column \"\(labelColumn)\" is also a feature of the schema")
        }
        // What each column is: a feature's slot, the label, or ignored.
        let ignored = -1, label = -2
        var roles = [Int](repeating: ignored, count: header.count)
        roles[labelIndex] = label
        for (slot, name) in featureNames.enumerated() {
            guard let column = columnOf[name] else { throw missing(name, "the feature \(slot) of the schema") }
            roles[column] = slot
        }
        let classByName = Dictionary(schema.classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })

        let featureCount = featureNames.count
        var features: [Float] = []
        var labels: [UInt8] = []
        var row = [Float](repeating: 0, count: featureCount)
        while try tokenizer.nextRecord() {
            let fields = tokenizer.fields
            guard fields.count == header.count else {
                let last = fields[fields.count - 1]
                if fields.count < header.count {
                    throw TallyError(
                        .malformedDataset,
                        "\(at(last.line, fields.count + 1, header[fields.count])): the row ends after \(fields.count) fields; the header has \(header.count)"
                    )
                }
                throw TallyError(
                    .malformedDataset,
                    "\(at(last.line, header.count + 1)): the row has \(fields.count) fields; the header has \(header.count)")
            }
            var labelValue = 0
            for column in 0..<fields.count {
                let role = roles[column]
                if role == ignored { continue }
                let field = fields[column]
                if role == label {
                    guard let value = tokenizer.classIndex(of: column, byName: classByName, count: schema.classes.count) else {
                        let text = tokenizer.text(of: column).trimmingSpaces()
                        let list = schema.classes.prefix(10).joined(separator: ", ") + (schema.classes.count > 10 ? ", …" : "")
                        let reason =
                            text.isEmpty
                            ? "the label is empty"
                            : "label \"\(text.prefix(60))\" is outside the classes: give an index in 0..<\(schema.classes.count) or a name (\(list))"
                        throw TallyError(.dataSchemaMismatch, "\(at(field.line, column + 1, header[column])): \(reason)")
                    }
                    labelValue = value
                    continue
                }
                switch tokenizer.number(of: column) {
                case .value(let v):
                    row[role] = v
                case .empty:
                    throw TallyError(.malformedDataset, "\(at(field.line, column + 1, header[column])): the value is empty")
                case .notNumber:
                    throw TallyError(
                        .malformedDataset,
                        "\(at(field.line, column + 1, header[column])): \"\(tokenizer.text(of: column).prefix(60))\" is not a number")
                case .notFinite:
                    throw TallyError(
                        .malformedDataset,
                        "\(at(field.line, column + 1, header[column])): \"\(tokenizer.text(of: column).prefix(60))\" is not a finite number (NaN and infinities are refused)"
                    )
                case .outOfRange:
                    throw TallyError(
                        .malformedDataset,
                        "\(at(field.line, column + 1, header[column])): \(tokenizer.text(of: column).prefix(60)) is beyond the range of a 32-bit float"
                    )
                }
            }
            features.append(contentsOf: row)
            labels.append(UInt8(labelValue))
        }
        guard !labels.isEmpty else {
            throw TallyError(.malformedDataset, "\(at(tokenizer.line)): the file has a header but no rows")
        }
        return try Dataset(features: features, labels: labels, featureCount: featureCount, classCount: schema.classes.count)
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(scalars[first...last])
    }
}

/// The result of reading one field as a number.
enum ParsedNumber: Equatable {
    case value(Float)
    case empty
    case notNumber
    case notFinite
    case outOfRange
}

/// Splits a CSV byte stream into records of fields, refilling its buffer from the file as a
/// record needs; a record is rescanned from its start after a refill, which costs one record
/// per chunk.
final class CSVTokenizer {
    struct Field {
        var begin: Int
        var end: Int
        var quoted: Bool
        /// The field holds a doubled quote, so its text needs unescaping.
        var escapes: Bool
        /// The line the field starts on.
        var line: Int
    }

    private let file: ChunkedFile
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atEnd = false
    private var atFileStart = true
    /// The line of the next record.
    private(set) var line = 1
    /// The fields of the current record (spans into the buffer, valid until the next call).
    private(set) var fields: [Field] = []

    init(file: ChunkedFile, chunkBytes: Int) throws(TallyError) {
        self.file = file
        buffer = .allocate(byteCount: max(chunkBytes, 16), alignment: 8)
    }

    deinit { buffer.deallocate() }

    private enum Scan {
        case complete(next: Int, line: Int)
        case incomplete
        case blank(next: Int)
    }

    /// Moves to the next record; false at the end of the file. Blank lines are skipped.
    func nextRecord() throws(TallyError) -> Bool {
        while true {
            if start == end {
                if atEnd { return false }
                try refill()
                continue
            }
            switch try scan() {
            case .complete(let next, let nextLine):
                start = next
                line = nextLine
                return true
            case .blank(let next):
                start = next
                line += 1
            case .incomplete:
                try refill()
            }
        }
    }

    /// Moves the unread bytes to the front, grows the buffer if they fill it, and reads more.
    private func refill() throws(TallyError) {
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        if end == buffer.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 8)
            larger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            buffer.deallocate()
            buffer = larger
        }
        let n = try file.read(into: buffer.baseAddress! + end, count: buffer.count - end)
        if n == 0 { atEnd = true }
        end += n
        if atFileStart, end >= 3 || atEnd {
            atFileStart = false
            if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { start = 3 } // a UTF-8 byte order mark
        }
    }

    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), ret = UInt8(ascii: "\r")

    /// Scans one record from `start`.
    private func scan() throws(TallyError) -> Scan {
        let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = start
        var line = self.line
        fields.removeAll(keepingCapacity: true)
        /// An error at the field being read, or (`column`) at another.
        func fail(_ text: String, column: Int? = nil) -> TallyError {
            TallyError(.malformedDataset, "\(file.path) line \(line), column \(column ?? fields.count + 1): \(text)")
        }
        // After a field: a comma (another field follows), a line break or the end (the record ends).
        // Returns nil to continue with the next field.
        func afterField(_ j: Int) throws(TallyError) -> Scan? {
            if j == end { return atEnd ? .complete(next: j, line: line) : .incomplete }
            switch p[j] {
            case Self.comma:
                i = j + 1
                return nil
            case Self.newline:
                return .complete(next: j + 1, line: line + 1)
            case Self.ret:
                if j + 1 == end && !atEnd { return .incomplete }
                return .complete(next: j + 1 < end && p[j + 1] == Self.newline ? j + 2 : j + 1, line: line + 1)
            default:
                throw fail("text after the closing quote of a quoted field", column: fields.count)
            }
        }
        while true {
            let fieldLine = line
            if i < end, p[i] == Self.quote {
                var j = i + 1
                var escapes = false
                while true {
                    guard j < end else {
                        if atEnd {
                            throw TallyError(
                                .malformedDataset,
                                "\(file.path) line \(fieldLine), column \(fields.count + 1): the quoted field is not closed")
                        }
                        return .incomplete
                    }
                    let c = p[j]
                    if c == Self.quote {
                        if j + 1 == end && !atEnd { return .incomplete }
                        if j + 1 < end && p[j + 1] == Self.quote {
                            escapes = true
                            j += 2
                            continue
                        }
                        break
                    }
                    if c == Self.newline { line += 1 }
                    j += 1
                }
                fields.append(Field(begin: i + 1, end: j, quoted: true, escapes: escapes, line: fieldLine))
                if let result = try afterField(j + 1) { return result }
            } else {
                var j = i
                while j < end {
                    let c = p[j]
                    if c == Self.comma || c == Self.newline || c == Self.ret || c == Self.quote { break }
                    j += 1
                }
                if j == end && !atEnd { return .incomplete }
                if j < end && p[j] == Self.quote { throw fail("a quote inside an unquoted field (quote the field and double the quote)") }
                if fields.isEmpty, j == i, j < end || atEnd {
                    // Nothing before the line break: a blank line, not a record of one empty field.
                    if j == end { return .blank(next: j) }
                    if p[j] == Self.newline { return .blank(next: j + 1) }
                    if p[j] == Self.ret {
                        if j + 1 == end && !atEnd { return .incomplete }
                        return .blank(next: j + 1 < end && p[j + 1] == Self.newline ? j + 2 : j + 1)
                    }
                }
                fields.append(Field(begin: i, end: j, quoted: false, escapes: false, line: fieldLine))
                if let result = try afterField(j) { return result }
            }
        }
    }

    /// The text of field `index`, unquoted.
    func text(of index: Int) -> String {
        let field = fields[index]
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[field.begin..<field.end])
        guard field.escapes else { return String(decoding: bytes, as: UTF8.self) }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(bytes.count)
        var previousWasQuote = false
        for byte in bytes {
            // Quotes inside a quoted field come in pairs; keep one of each pair.
            if byte == Self.quote && previousWasQuote {
                previousWasQuote = false
                continue
            }
            previousWasQuote = byte == Self.quote
            unescaped.append(byte)
        }
        return String(decoding: unescaped, as: UTF8.self)
    }

    /// Field `index` read as a class: an index below `count` written in decimal, or a name.
    func classIndex(of index: Int, byName: [String: Int], count: Int) -> Int? {
        let field = fields[index]
        let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = field.begin, e = field.end
        while i < e, p[i] == 0x20 || p[i] == 0x09 { i += 1 }
        while e > i, p[e - 1] == 0x20 || p[e - 1] == 0x09 { e -= 1 }
        guard i < e else { return nil }
        if !field.escapes, e - i <= 4 {
            var value = 0
            var j = i
            while j < e, (0x30...0x39).contains(p[j]) {
                value = value * 10 + Int(p[j] - 0x30)
                j += 1
            }
            if j == e { return value < count ? value : nil }
        }
        return byName[text(of: index).trimmingSpaces()]
    }

    /// Field `index` read as a Float.
    func number(of index: Int) -> ParsedNumber {
        let field = fields[index]
        guard !field.escapes else { return .notNumber }
        return Self.parseNumber(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), field.begin, field.end)
    }

    /// Powers of ten exact in Float (5^10 < 2^24).
    private static let powersOfTen: [Float] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]

    /// A decimal number (`[+-]digits[.digits][e[+-]digits]`, surrounding spaces allowed),
    /// correctly rounded to Float. The common case — at most seven significant digits and a
    /// small exponent — is one exact Float multiplication or division (Clinger's fast path);
    /// anything else goes through the standard library's parser.
    static func parseNumber(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> ParsedNumber {
        var i = from, e = to
        while i < e, p[i] == 0x20 || p[i] == 0x09 { i += 1 }
        while e > i, p[e - 1] == 0x20 || p[e - 1] == 0x09 { e -= 1 }
        guard i < e else { return .empty }
        let begin = i
        var negative = false
        if p[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        } else if p[i] == UInt8(ascii: "+") {
            i += 1
        }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        var digits = 0
        var inexact = false
        while i < e, p[i] &- 0x30 < 10 {
            let d = UInt64(p[i] &- 0x30)
            digits += 1
            if mantissa == 0 && d == 0 {
                // A leading zero.
            } else if significant < 19 {
                mantissa = mantissa * 10 + d
                significant += 1
            } else {
                exponent += 1
                inexact = true
            }
            i += 1
        }
        if i < e, p[i] == UInt8(ascii: ".") {
            i += 1
            while i < e, p[i] &- 0x30 < 10 {
                let d = UInt64(p[i] &- 0x30)
                digits += 1
                if mantissa == 0 && d == 0 {
                    exponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa * 10 + d
                    significant += 1
                    exponent -= 1
                } else {
                    inexact = true
                }
                i += 1
            }
        }
        guard digits > 0 else {
            let word = String(decoding: UnsafeBufferPointer(start: p + i, count: e - i), as: UTF8.self).lowercased()
            return ["nan", "inf", "infinity"].contains(word) ? .notFinite : .notNumber
        }
        if i < e, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            var negativeExponent = false
            if i < e, p[i] == UInt8(ascii: "-") || p[i] == UInt8(ascii: "+") {
                negativeExponent = p[i] == UInt8(ascii: "-")
                i += 1
            }
            var written = 0
            var exponentDigits = 0
            while i < e, p[i] &- 0x30 < 10 {
                written = min(written * 10 + Int(p[i] &- 0x30), 100_000)
                exponentDigits += 1
                i += 1
            }
            guard exponentDigits > 0 else { return .notNumber }
            exponent += negativeExponent ? -written : written
        }
        guard i == e else { return .notNumber }
        if mantissa == 0 { return .value(negative ? -0.0 : 0) }
        if !inexact, mantissa < 1 << 24, (-10...10).contains(exponent) {
            let m = Float(mantissa)
            let v = exponent >= 0 ? m * powersOfTen[exponent] : m / powersOfTen[-exponent]
            return .value(negative ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(start: p + begin, count: e - begin), as: UTF8.self)
        guard let v = Float(text) else { return .notNumber }
        return v.isFinite ? .value(v) : .outOfRange
    }
}
