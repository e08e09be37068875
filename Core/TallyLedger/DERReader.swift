import TallyCore

/// A bounds-checked reader of DER TLVs, enough to find the parts of an X.509 certificate the
/// ledger needs. Certificates come from the ledger file, which an auditor does not trust: every
/// length is checked against what is left, and anything unexpected is an error, never a trap.
struct DERReader {
    struct Element {
        let tag: UInt8
        /// The whole TLV, header included.
        let encoded: ArraySlice<UInt8>
        /// The value.
        let content: ArraySlice<UInt8>
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var isAtEnd: Bool { index >= bytes.endIndex }

    var nextTag: UInt8? { isAtEnd ? nil : bytes[index] }

    mutating func next() throws(TallyError) -> Element {
        let start = index
        guard bytes.endIndex - index >= 2 else { throw Self.malformed("truncated element") }
        let tag = bytes[index]
        guard tag & 0x1f != 0x1f else { throw Self.malformed("multi-byte tags are not used in certificates") }
        let first = bytes[index + 1]
        index += 2
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7f)
            guard count >= 1, count <= 4 else { throw Self.malformed("unsupported length encoding") }
            guard bytes.endIndex - index >= count else { throw Self.malformed("truncated length") }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        guard length <= bytes.endIndex - index else { throw Self.malformed("element longer than its container") }
        let content = bytes[index..<index + length]
        index += length
        return Element(tag: tag, encoded: bytes[start..<index], content: content)
    }

    /// The next element, which must have `tag`.
    mutating func next(tag: UInt8, _ what: String) throws(TallyError) -> Element {
        let element = try next()
        guard element.tag == tag else { throw Self.malformed("expected \(what)") }
        return element
    }

    static func malformed(_ what: String) -> TallyError {
        TallyError(.malformedKey, "malformed certificate: \(what)")
    }
}
