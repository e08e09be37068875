/// An unsigned-byte array read from an IDX file (the format of MNIST and Fashion-MNIST):
/// its dimensions, outermost first, and its elements in row-major order.
public struct IDXArray: Sendable, Hashable {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]` for training images).
    public let dimensions: [Int]
    /// `dimensions.reduce(1, *)` elements, row-major.
    public let bytes: [UInt8]

    /// The IDX magic number: zero, zero, type code 0x08 (unsigned byte), rank.
    public var magic: UInt32 { 0x0800 | UInt32(dimensions.count) }
}
