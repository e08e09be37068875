extension SafeTensors {
    /// Caps checked before a safetensors file is allocated or parsed, so a hostile header
    /// length or file size is an error instead of an out-of-memory crash.
    public struct Limits: Sendable, Hashable {
        /// Largest accepted JSON header. 100 MB matches the reference implementation.
        public var maxHeaderBytes: Int
        /// Largest accepted file (header length prefix + header + data).
        public var maxFileBytes: Int

        public init(maxHeaderBytes: Int = 100_000_000, maxFileBytes: Int = 1 << 32) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxFileBytes = maxFileBytes
        }

        public static let `default` = Limits()
    }
}
