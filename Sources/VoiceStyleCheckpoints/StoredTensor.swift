// Tensors as stored in checkpoint files: element type, shape and little-endian bytes, before conversion
// into engine tensors.
import Foundation
import VoiceStyleEngine

/// Element types of PyTorch, safetensors and NumPy files.
public enum DType: String, Sendable, CaseIterable {
    case float64, float32, float16, bfloat16, int64, int32, int16, int8, uint64, uint32, uint16, uint8, bool
    case float8e4m3 = "float8_e4m3fn", float8e5m2 = "float8_e5m2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64, .uint64: 8
        case .float32, .int32, .uint32: 4
        case .float16, .bfloat16, .int16, .uint16: 2
        case .int8, .uint8, .bool, .float8e4m3, .float8e5m2: 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float64, .float32, .float16, .bfloat16, .float8e4m3, .float8e5m2: true
        default: false
        }
    }
}

/// A dense row-major tensor read from a file: `bytes` holds `shape.product` elements of `dtype`,
/// little-endian, contiguous.
public struct StoredTensor: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: Data

    public init(dtype: DType, shape: [Int], bytes: Data) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// From an engine tensor (float32 or float64).
    public init<T: TensorScalar>(_ t: Tensor<T>) {
        dtype = T.self == Double.self ? .float64 : .float32
        shape = t.shape
        if T.self == Float.self || T.self == Double.self {
            bytes = Data(buffer: t.buffer)
        } else {
            bytes = Data(buffer: t.converted(to: Float.self).buffer)
        }
    }

    /// From integers (stored as `dtype`, which must be an integer or bool type).
    public init(integers: [Int64], shape: [Int], dtype: DType = .int64) {
        precondition(!dtype.isFloatingPoint, "integer data needs an integer dtype")
        self.dtype = dtype
        self.shape = shape
        var d = Data(capacity: integers.count * dtype.size)
        for v in integers {
            switch dtype {
            case .int64, .uint64: withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
            case .int32, .uint32: withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { d.append(contentsOf: $0) }
            case .int16, .uint16: withUnsafeBytes(of: Int16(truncatingIfNeeded: v).littleEndian) { d.append(contentsOf: $0) }
            default: d.append(UInt8(truncatingIfNeeded: v))
            }
        }
        bytes = d
    }

    /// The elements converted to `Double` (exact for every type but 64-bit integers beyond 2⁵³).
    public func doubles() -> [Double] {
        var out = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let n = count
            switch dtype {
            case .float64: for i in 0..<n { out[i] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian) }
            case .float32: for i in 0..<n { out[i] = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)) }
            case .float16: for i in 0..<n { out[i] = Double(Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian))) }
            case .bfloat16: for i in 0..<n { out[i] = Double(Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16)) }
            case .int64: for i in 0..<n { out[i] = Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
            case .uint64: for i in 0..<n { out[i] = Double(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
            case .int32: for i in 0..<n { out[i] = Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
            case .uint32: for i in 0..<n { out[i] = Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            case .int16: for i in 0..<n { out[i] = Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) }
            case .uint16: for i in 0..<n { out[i] = Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
            case .int8: for i in 0..<n { out[i] = Double(Int8(bitPattern: raw[i])) }
            case .uint8, .bool: for i in 0..<n { out[i] = Double(raw[i]) }
            case .float8e4m3: for i in 0..<n { out[i] = Self.float8(raw[i], exponentBits: 4, bias: 7, finiteOnly: true) }
            case .float8e5m2: for i in 0..<n { out[i] = Self.float8(raw[i], exponentBits: 5, bias: 15, finiteOnly: false) }
            }
        }
        return out
    }

    /// The elements as 64-bit integers (integer and bool types only).
    public func integers() -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        if dtype == .int64 {
            return bytes.withUnsafeBytes { raw in (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) } }
        }
        return doubles().map { Int64($0) }
    }

    /// Converts to an engine tensor of `T` (float32 data to `Float` is a plain copy).
    public func tensor<T: TensorScalar>(_ type: T.Type = T.self) -> Tensor<T> {
        let t = Tensor<T>(uninitializedShape: shape)
        if dtype == .float32 && T.self == Float.self {
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(t.storage.pointer).copyMemory(from: raw.baseAddress!, byteCount: count * 4)
            }
        } else if dtype == .float64 && T.self == Double.self {
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(t.storage.pointer).copyMemory(from: raw.baseAddress!, byteCount: count * 8)
            }
        } else {
            let d = doubles()
            for i in 0..<count { t.storage.pointer[i] = T(d[i]) }
        }
        return t
    }

    /// A float32 tensor over the same bytes, without copying, when they are float32 and suitably aligned
    /// (safetensors and PyTorch zip files are); otherwise a converted copy. The tensor shares memory with
    /// the file mapping: treat it as read-only (model weights), or `detached()` it before writing.
    public func sharedFloatTensor() -> Tensor<Float> {
        guard dtype == .float32, count > 0 else { return tensor(Float.self) }
        let aligned = bytes.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % MemoryLayout<Float>.alignment == 0 }
        guard aligned else { return tensor(Float.self) }
        let owner = DataOwner(bytes)
        let p = owner.data.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        return Tensor(shape: shape, storage: TensorStorage(borrowing: p.assumingMemoryBound(to: Float.self), count: count, owner: owner))
    }

    private static func float8(_ b: UInt8, exponentBits: Int, bias: Int, finiteOnly: Bool) -> Double {
        let mantBits = 7 - exponentBits
        let sign: Double = b & 0x80 != 0 ? -1 : 1
        let e = Int((b >> mantBits) & UInt8((1 << exponentBits) - 1))
        let m = Int(b & UInt8((1 << mantBits) - 1))
        let maxE = (1 << exponentBits) - 1
        if finiteOnly { if e == maxE && m == (1 << mantBits) - 1 { return .nan } }
        else if e == maxE { return m == 0 ? sign * .infinity : .nan }
        if e == 0 { return sign * Double(m) * pow(2, Double(1 - bias - mantBits)) }
        return sign * (1 + Double(m) / Double(1 << mantBits)) * pow(2, Double(e - bias))
    }
}
