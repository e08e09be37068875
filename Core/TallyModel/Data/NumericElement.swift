import TallyCore

/// The element types a data array may hold (NumPy and safetensors files), always little-endian,
/// and their conversion to what a ``Dataset`` holds: Float features and byte labels.
enum NumericElement: Sendable, Hashable, CaseIterable {
    case float32, float64, uint8, int8, int16, int32, int64, uint16, uint32

    var byteWidth: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64: 8
        }
    }

    var isInteger: Bool { self != .float32 && self != .float64 }

    /// Element `i` of little-endian `raw` as a Double (exact for every type here but the widest
    /// 64-bit integers, which no feature needs).
    @inline(__always)
    func value(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Double {
        switch self {
        case .float32: Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
        case .float64: Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
        case .uint8: Double(raw[i])
        case .int8: Double(Int8(bitPattern: raw[i]))
        case .int16: Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .uint16: Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case .int32: Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .uint32: Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .int64: Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        }
    }

    /// Element `i` as an integer, or nil for floating-point types whose value is not one.
    @inline(__always)
    func integer(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Int64? {
        switch self {
        case .int64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
        case .float32, .float64:
            let v = value(raw, i)
            return v.isFinite && v.rounded() == v && abs(v) < 0x1p62 ? Int64(v) : nil
        default: return Int64(value(raw, i))
        }
    }

    /// Every element as a Float feature. A NaN, an infinity or a value beyond Float's range
    /// is refused: one such value would poison every gradient it touches.
    func features(_ raw: UnsafeRawBufferPointer, count: Int) -> Result<[Float], ElementProblem> {
        var failure: ElementProblem?
        let out = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch self {
            case .float32:
                for i in 0..<count {
                    let v = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    guard v.isFinite else {
                        failure = ElementProblem(index: i, text: "\(v) is not a finite number")
                        break
                    }
                    buffer[i] = v
                }
            case .uint8:
                for i in 0..<count { buffer[i] = Float(raw[i]) }
            default:
                for i in 0..<count {
                    let v = value(raw, i)
                    let f = Float(v)
                    guard f.isFinite else {
                        failure = ElementProblem(
                            index: i, text: v.isFinite ? "\(v) is beyond the range of Float" : "\(v) is not a finite number")
                        break
                    }
                    buffer[i] = f
                }
            }
            initialized = failure == nil ? count : 0
        }
        if let failure { return .failure(failure) }
        return .success(out)
    }

    /// Every element as a class label below `classCount`.
    func labels(_ raw: UnsafeRawBufferPointer, count: Int, classCount: Int) -> Result<[UInt8], ElementProblem> {
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            guard let v = integer(raw, i) else {
                return .failure(ElementProblem(index: i, text: "label \(value(raw, i)) is not an integer"))
            }
            guard v >= 0, v < Int64(classCount) else {
                return .failure(ElementProblem(index: i, text: "label \(v) is outside the classes 0..<\(classCount)"))
            }
            out[i] = UInt8(v)
        }
        return .success(out)
    }
}

/// The first element a conversion refused, by flat index.
struct ElementProblem: Error {
    var index: Int
    var text: String
}
