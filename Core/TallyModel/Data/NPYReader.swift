import TallyCore

/// A numeric array read from a NumPy `.npy` file: its shape, element type and the file's bytes
/// (the data starts at `dataOffset`; kept in place rather than copied).
struct NPYArray: Sendable {
    var shape: [Int]
    var element: NumericElement
    var bytes: [UInt8]
    var dataOffset: Int

    var elementCount: Int { shape.reduce(1, *) }

    func withData<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[dataOffset...])) }
    }
}

/// Reads NumPy `.npy` files (format versions 1.0, 2.0 and 3.0,
/// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic
/// `\x93NUMPY`, the version, a little-endian header length (2 bytes in version 1, 4 after), a
/// Python dict literal with `descr`, `fortran_order` and `shape`, then the raw elements.
///
/// Only what `numpy.save` writes for plain numeric arrays is accepted, and only little-endian
/// element types Tally converts exactly; Fortran order is refused rather than transposed, since
/// a silently transposed array trains on scrambled features.
enum NPYReader {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// The `descr` strings accepted: what NumPy writes for these types on a little-endian machine.
    static let elementTypes: [(descr: String, element: NumericElement)] = [
        ("<f4", .float32), ("<f8", .float64), ("|u1", .uint8), ("|i1", .int8), ("<i2", .int16),
        ("<i4", .int32), ("<i8", .int64), ("<u2", .uint16), ("<u4", .uint32),
    ]
    /// Largest header accepted; NumPy itself refuses headers above 10,000 bytes by default.
    static let maxHeaderBytes = 1 << 16

    static func read(path: String, maxBytes: Int) throws(TallyError) -> NPYArray {
        try parse(BoundedFile.read(path, maxBytes: maxBytes, what: "NumPy"), file: path)
    }

    static func parse(_ bytes: [UInt8], file: String) throws(TallyError) -> NPYArray {
        func fail(_ text: String) -> TallyError { TallyError(.malformedDataset, "\(file): \(text)") }
        guard bytes.count >= 10, bytes.starts(with: magic) else {
            throw fail("not a NumPy .npy file (it does not start with \\x93NUMPY)")
        }
        let major = bytes[6]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw fail("NumPy format version \(major).\(bytes[7]) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard bytes.count >= 8 + lengthBytes else { throw fail("the header length is cut off") }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        guard headerLength <= maxHeaderBytes else {
            throw fail("the header declares \(headerLength) bytes, over the limit of \(maxHeaderBytes)")
        }
        let headerStart = 8 + lengthBytes
        guard bytes.count >= headerStart + headerLength else {
            throw fail("the header declares \(headerLength) bytes but only \(bytes.count - headerStart) follow")
        }
        let headerBytes = bytes[headerStart..<(headerStart + headerLength)]
        // Versions 1 and 2 are Latin-1 (in practice ASCII), version 3 UTF-8.
        guard major == 3 || headerBytes.allSatisfy({ $0 < 0x80 }), let header = String(validating: headerBytes, as: UTF8.self) else {
            throw fail("the header is not \(major == 3 ? "UTF-8" : "ASCII") text")
        }
        var parser = DictParser(text: Array(header.unicodeScalars))
        let entries: [String: DictParser.Value]
        do throws(DictParser.Failure) { entries = try parser.parseDict() } catch { throw fail("header: \(error.text)") }

        for key in entries.keys.sorted() where !["descr", "fortran_order", "shape"].contains(key) {
            throw fail("header key '\(key)' is not one NumPy writes (descr, fortran_order, shape)")
        }
        guard case .string(let descr)? = entries["descr"] else {
            throw fail(
                entries["descr"] == nil
                    ? "header has no 'descr'" : "header 'descr' is a structured type; only plain numeric arrays are supported")
        }
        guard let element = elementTypes.first(where: { $0.descr == descr })?.element else {
            let hint = descr.hasPrefix(">") ? " (big-endian: save it little-endian, e.g. array.astype('<\(descr.dropFirst())'))" : ""
            throw fail(
                "header 'descr' '\(descr)' is not supported\(hint); supported: \(elementTypes.map(\.descr).joined(separator: " "))")
        }
        guard case .bool(let fortran)? = entries["fortran_order"] else { throw fail("header 'fortran_order' must be True or False") }
        guard !fortran else {
            throw fail("header 'fortran_order' is True: only C order is supported (save numpy.ascontiguousarray(array))")
        }
        guard case .tuple(let shape)? = entries["shape"] else { throw fail("header 'shape' must be a tuple of integers") }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("header 'shape' \(shape) has too many elements") }
            count = product
        }
        let dataOffset = headerStart + headerLength
        let (needed, overflow) = count.multipliedReportingOverflow(by: element.byteWidth)
        guard !overflow, bytes.count - dataOffset == needed else {
            throw fail("shape \(shape) of \(descr) needs \(count) × \(element.byteWidth) data bytes, found \(bytes.count - dataOffset)")
        }
        return NPYArray(shape: shape, element: element, bytes: bytes, dataOffset: dataOffset)
    }

    /// The Python literal of an `.npy` header: a dict of strings, booleans and integer tuples.
    struct DictParser {
        enum Value: Equatable {
            case string(String)
            case bool(Bool)
            case tuple([Int])
            case other
        }

        struct Failure: Error { var text: String }

        let text: [Unicode.Scalar]
        var index = 0

        init(text: [Unicode.Scalar]) { self.text = text }

        private var current: Unicode.Scalar? { index < text.count ? text[index] : nil }

        private func fail(_ what: String) -> Failure { Failure(text: "\(what) at character \(index + 1)") }

        private mutating func skipSpace() {
            while let c = current, c == " " || c == "\n" || c == "\t" || c == "\r" { index += 1 }
        }

        private mutating func expect(_ c: Unicode.Scalar) throws(Failure) {
            skipSpace()
            guard current == c else { throw fail("expected '\(c)'") }
            index += 1
        }

        mutating func parseDict() throws(Failure) -> [String: Value] {
            var entries: [String: Value] = [:]
            try expect("{")
            while true {
                skipSpace()
                if current == "}" { index += 1; break }
                let key = try parseString()
                try expect(":")
                let value = try parseValue()
                guard entries.updateValue(value, forKey: key) == nil else { throw fail("key '\(key)' is repeated") }
                skipSpace()
                if current == "," { index += 1; continue }
                try expect("}")
                break
            }
            skipSpace()
            guard current == nil else { throw fail("unexpected text after the dict") }
            return entries
        }

        private mutating func parseString() throws(Failure) -> String {
            skipSpace()
            guard let quote = current, quote == "'" || quote == "\"" else { throw fail("expected a quoted string") }
            index += 1
            var out = String.UnicodeScalarView()
            while let c = current, c != quote {
                guard c != "\\" else { throw fail("escapes in strings are not supported") }
                out.append(c)
                index += 1
            }
            guard current == quote else { throw fail("unterminated string") }
            index += 1
            return String(out)
        }

        private mutating func parseValue() throws(Failure) -> Value {
            skipSpace()
            guard let c = current else { throw fail("unexpected end of the header") }
            switch c {
            case "'", "\"": return .string(try parseString())
            case "T": try word("True"); return .bool(true)
            case "F": try word("False"); return .bool(false)
            case "(":
                index += 1
                var items: [Int] = []
                while true {
                    skipSpace()
                    if current == ")" { index += 1; return .tuple(items) }
                    items.append(try parseInteger())
                    skipSpace()
                    if current == "," { index += 1; continue }
                    try expect(")")
                    return .tuple(items)
                }
            case "[":
                // A structured dtype's field list: skipped to its bracket, then refused by the caller.
                var depth = 0
                repeat {
                    if current == "[" { depth += 1 } else if current == "]" { depth -= 1 }
                    index += 1
                } while depth > 0 && current != nil
                guard depth == 0 else { throw fail("unterminated list") }
                return .other
            default:
                throw fail("unexpected value")
            }
        }

        private mutating func word(_ w: String) throws(Failure) {
            for scalar in w.unicodeScalars {
                guard current == scalar else { throw fail("expected \(w)") }
                index += 1
            }
        }

        private mutating func parseInteger() throws(Failure) -> Int {
            var value = 0
            var digits = 0
            while let c = current, ("0"..."9").contains(c) {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(c.value - 48))
                guard !o1, !o2 else { throw fail("dimension is too large") }
                value = sum
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw fail("expected a non-negative integer") }
            if current == "L" { index += 1 } // Python 2 wrote longs with a suffix.
            return value
        }
    }
}
