@testable import TallyCore

/// Test vectors written as hex, through the product's one codec.
extension Array where Element == UInt8 {
    init(hex: String) {
        guard let bytes = Hex.decode(hex) else { preconditionFailure("not hex: \(hex)") }
        self = bytes
    }

    var hex: String { Hex.encode(self) }
}
