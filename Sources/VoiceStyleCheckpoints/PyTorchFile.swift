// Follows torch/serialization.py: the zip container (`archive/data.pkl`, `archive/data/<key>`,
// `archive/byteorder`) and the legacy container (magic, protocol, sys-info and main pickles, storage keys,
// raw storages), and torch/_utils.py's _rebuild_tensor_v2 / _rebuild_parameter for tensor views.
import Foundation

/// Reads PyTorch `torch.save` files without executing anything.
public enum PyTorchFile {
    /// The legacy format's magic number 0x1950a86a20f9469cfc6c.
    static let legacyMagic = "119547037146038801333356"

    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
        "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8, "torch.BoolStorage": .bool,
    ]
    static let torchDTypes: [String: DType] = [
        "torch.float32": .float32, "torch.float64": .float64, "torch.float16": .float16, "torch.bfloat16": .bfloat16,
        "torch.int64": .int64, "torch.int32": .int32, "torch.int16": .int16, "torch.int8": .int8,
        "torch.uint8": .uint8, "torch.bool": .bool,
    ]

    /// Reads a zip-format file.
    static func readZip(_ data: Data, file: String) throws -> CheckpointValue {
        let zip = try ZipArchive(data, file: file)
        guard let pkl = zip.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) else {
            throw CheckpointError.unknownFormat(file: file, reason: "a zip archive without data.pkl (not a torch.save file)")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let bo = zip.entry(named: prefix + "byteorder") {
            let s = String(decoding: try zip.contents(of: bo), as: UTF8.self)
            bigEndian = s.hasPrefix("big")
        }
        let resolver = TorchResolver(file: file, bigEndian: bigEndian) { key in
            guard let e = zip.entry(named: prefix + "data/" + key) else {
                throw CheckpointError.corrupt(file: file, reason: "storage \(key) is missing from the archive")
            }
            return try zip.contents(of: e)
        }
        var vm = Unpickler(try zip.contents(of: pkl), file: file, resolver: resolver)
        return try vm.loadValue()
    }

    /// Reads a legacy-format file (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`).
    static func readLegacy(_ data: Data, file: String) throws -> CheckpointValue {
        let plain = PlainResolver(file: file)
        var vm = Unpickler(data, file: file, resolver: plain)
        let magicText: String? = try vm.withLoaded { magic in
            if case let .bigInt(s) = magic { return s }; if case let .int(i) = magic { return String(i) }; return nil
        }
        guard magicText == legacyMagic else {
            throw CheckpointError.unknownFormat(file: file, reason: "a pickle without PyTorch's magic number")
        }
        var vm2 = Unpickler(data, start: vm.endOffset, file: file, resolver: plain)
        guard try vm2.withLoaded({ if case .int(1001) = $0 { return true }; return false }) else {
            throw CheckpointError.corrupt(file: file, reason: "unsupported legacy protocol version")
        }
        var vm3 = Unpickler(data, start: vm2.endOffset, file: file, resolver: plain)
        var bigEndian = false
        try vm3.withLoaded { header in
            if case let .dict(info) = header, let le = info.items.first(where: { if case .string("little_endian") = $0.0 { return true }; return false })?.1,
               case let .bool(little) = le {
                bigEndian = !little
            }
        }
        // The main pickle refers to storages whose bytes follow it: collect them, then read them.
        var blobs: [String: Data] = [:]
        let resolver = TorchResolver(file: file, bigEndian: bigEndian) { key in
            guard let b = blobs[key] else { throw CheckpointError.corrupt(file: file, reason: "storage \(key) is not in the file") }
            return b
        }
        var main = Unpickler(data, start: vm3.endOffset, file: file, resolver: resolver)
        var root: [PickleObject] = []
        defer { main.releaseAll(&root) }
        root.append(try main.load())
        var keysVM = Unpickler(data, start: main.endOffset, file: file, resolver: plain)
        let keyItems: [PickleObject] = try keysVM.withLoaded { keys in
            guard case let .list(keyList) = keys, keyList.items.allSatisfy({ if case .string = $0 { return true }; return false }) else {
                throw CheckpointError.corrupt(file: file, reason: "storage key list missing")
            }
            return keyList.items
        }
        var p = keysVM.endOffset
        for item in keyItems {
            guard case let .string(key) = item, let dtype = resolver.dtypes[key] else {
                throw CheckpointError.corrupt(file: file, reason: "storage key list names an unknown storage")
            }
            guard p + 8 <= data.count else { throw CheckpointError.corrupt(file: file, reason: "truncated before storage \(key)") }
            let raw = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p, as: UInt64.self) }
            let numel = bigEndian ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw)
            p += 8
            guard numel <= UInt64(data.count - p) / UInt64(dtype.size) else {
                throw CheckpointError.corrupt(file: file, reason: "storage \(key) claims \(numel) elements; the file is truncated")
            }
            let n = Int(numel) * dtype.size
            blobs[key] = data[(data.startIndex + p)..<(data.startIndex + p + n)]
            p += n
        }
        return try root[0].value(file: file)
    }
}

/// Resolves nothing: for the legacy header pickles, which hold plain values only.
struct PlainResolver: PickleResolver {
    let file: String
    func persistentLoad(_ pid: PickleObject) throws -> PickleObject {
        throw CheckpointError.corrupt(file: file, reason: "unexpected persistent id in a header pickle")
    }
    func reduce(_ name: String, _ args: [PickleObject]) throws -> PickleObject {
        throw CheckpointError.corrupt(file: file, reason: "unexpected call of \(name) in a header pickle")
    }
    func build(_ object: AnyObject, state: PickleObject) throws -> PickleObject? { nil }
}

/// A storage reference from a persistent id: its key, element type and, for legacy views, an element offset.
final class StorageRef {
    let key: String, dtype: DType?, numel: Int, viewOffset: Int
    init(key: String, dtype: DType?, numel: Int, viewOffset: Int) { self.key = key; self.dtype = dtype; self.numel = numel; self.viewOffset = viewOffset }
}

/// A numpy dtype seen in a pickle (descr like "f8", byte order from BUILD).
final class NumpyDType {
    let descr: String
    var bigEndian = false
    init(_ d: String) { descr = d }
    var dtype: DType? {
        ["f8": .float64, "f4": .float32, "f2": .float16, "i8": .int64, "i4": .int32, "i2": .int16, "i1": .int8,
         "u8": .uint64, "u4": .uint32, "u2": .uint16, "u1": .uint8, "b1": .bool][descr]
    }
}

/// A numpy array awaiting its BUILD state.
final class NumpyArrayStub {}

/// PyTorch's persistent ids and rebuild functions.
final class TorchResolver: PickleResolver {
    let file: String
    let bigEndian: Bool
    let storageBytes: (String) throws -> Data
    /// Element type of every storage key seen (the legacy reader needs it to read the raw storages).
    private(set) var dtypes: [String: DType] = [:]
    private var cache: [String: Data] = [:]

    init(file: String, bigEndian: Bool, storageBytes: @escaping (String) throws -> Data) {
        self.file = file
        self.bigEndian = bigEndian
        self.storageBytes = storageBytes
    }

    private func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: r) }

    func persistentLoad(_ pid: PickleObject) throws -> PickleObject {
        guard case let .tuple(t) = pid, t.count >= 5, case .string("storage") = t[0],
              case let .global(typeName) = t[1], case let .string(key) = t[2], case let .int(numel) = t[4], numel >= 0 else {
            throw corrupt("unsupported persistent id (not a PyTorch storage)")
        }
        let dtype = PyTorchFile.storageTypes[typeName]
        guard dtype != nil || typeName == "torch.UntypedStorage" else { throw corrupt("unsupported storage type \(typeName)") }
        if let dtype { dtypes[key] = dtype }
        var viewOffset = 0
        // Legacy view metadata: (view_key, offset, view_size) into the root storage.
        if t.count >= 6, case let .tuple(view) = t[5], view.count == 3, case let .int(off) = view[1] { viewOffset = off }
        return .opaque(StorageRef(key: key, dtype: dtype, numel: numel, viewOffset: viewOffset))
    }

    func reduce(_ name: String, _ args: [PickleObject]) throws -> PickleObject {
        switch name {
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v3":
            guard args.count >= 4, case let .opaque(s) = args[0], let storage = s as? StorageRef,
                  case let .int(offset) = args[1], case let .tuple(sizeT) = args[2], case let .tuple(strideT) = args[3] else {
                throw corrupt("bad arguments to \(name)")
            }
            let ints: ([PickleObject]) throws -> [Int] = { try $0.map { v in guard case let .int(i) = v else { throw self.corrupt("non-integer tensor size or stride") }; return i } }
            let size = try ints(sizeT), stride = try ints(strideT)
            var dtype = storage.dtype
            if name == "torch._utils._rebuild_tensor_v3", args.count >= 7, case let .global(d) = args[6] { dtype = PyTorchFile.torchDTypes[d] }
            guard let dtype else { throw corrupt("a tensor on an untyped storage without a dtype") }
            return .opaque(TensorBox { [self] in
                try self.view(storage, dtype: dtype, offset: offset + storage.viewOffset, size: size, stride: stride)
            })
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first else { throw corrupt("bad arguments to \(name)") }
            return data
        case "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2":
            guard args.count >= 3, case let .global(f) = args[0], case let .tuple(inner) = args[2] else { throw corrupt("bad arguments to \(name)") }
            guard f.hasPrefix("torch._utils._rebuild_") else { throw CheckpointError.forbiddenGlobal(file: file, name: f) }
            return try reduce(f, inner)
        case "torch.nn.parameter.Parameter", "torch.Tensor":
            return args.first ?? .none
        case "numpy.dtype":
            guard case let .string(d)? = args.first else { throw corrupt("bad numpy dtype") }
            return .opaque(NumpyDType(d))
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
            guard args.count == 2, case let .opaque(o) = args[0], let dt = o as? NumpyDType, let dtype = dt.dtype,
                  case let .bytes(b) = args[1], b.count == dtype.size else { throw corrupt("bad numpy scalar") }
            let bytes = dt.bigEndian ? Data(b.reversed()) : b
            let v = StoredTensor(dtype: dtype, shape: [], bytes: bytes)
            if dtype.isFloatingPoint { return .opaque(NumberBox(.float(v.doubles()[0]))) }
            if dtype == .bool { return .bool(v.doubles()[0] != 0) }
            return .int(Int(v.integers()?.first ?? 0))
        case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
            return .opaque(NumpyArrayStub())
        default:
            throw CheckpointError.forbiddenGlobal(file: file, name: name)
        }
    }

    func build(_ object: AnyObject, state: PickleObject) throws -> PickleObject? {
        if let dt = object as? NumpyDType {
            if case let .tuple(t) = state, t.count > 1, case let .string(order) = t[1] { dt.bigEndian = order == ">" }
            return nil
        }
        if object is NumpyArrayStub {
            // (version, shape, dtype, is_fortran, raw bytes)
            guard case let .tuple(t) = state, t.count == 5, case let .tuple(shapeT) = t[1], case let .opaque(o) = t[2],
                  let dt = o as? NumpyDType, let dtype = dt.dtype, case let .bool(fortran) = t[3], case let .bytes(raw) = t[4] else {
                throw corrupt("unsupported numpy array in the pickle")
            }
            let shape = try shapeT.map { v -> Int in guard case let .int(i) = v, i >= 0 else { throw corrupt("bad numpy shape") }; return i }
            let stored = try NumPyFile.makeTensor(raw, dtype: dtype, shape: shape, fortran: fortran, bigEndian: dt.bigEndian, file: file)
            return .opaque(TensorBox { stored })
        }
        return nil
    }

    /// Materialises a (possibly strided) view of a storage as a contiguous tensor.
    func view(_ storage: StorageRef, dtype: DType, offset: Int, size: [Int], stride: [Int]) throws -> StoredTensor {
        guard size.count == stride.count, offset >= 0, size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else {
            throw corrupt("tensor with a bad size \(size), stride \(stride) or offset \(offset)")
        }
        var count = 1, maxIndex = offset
        for (n, s) in zip(size, stride) {
            let (c, o1) = count.multipliedReportingOverflow(by: n)
            guard !o1 else { throw corrupt("tensor size \(size) overflows") }
            count = c
            if n > 0 {
                let (m, o2) = (n - 1).multipliedReportingOverflow(by: s)
                guard !o2 else { throw corrupt("tensor stride \(stride) overflows") }
                maxIndex += m
            }
        }
        let es = dtype.size
        if count == 0 { return StoredTensor(dtype: dtype, shape: size, bytes: Data()) }
        let bytes: Data
        if let c = cache[storage.key] { bytes = c } else { bytes = try storageBytes(storage.key); cache[storage.key] = bytes }
        guard maxIndex < bytes.count / es else {
            throw corrupt("a tensor of shape \(size) at offset \(offset) reaches element \(maxIndex) of a storage of \(bytes.count / es)")
        }
        var out: Data
        if stride == rowMajorStrides(size) {
            let start = bytes.startIndex + offset * es
            out = bytes[start..<(start + count * es)]
        } else {
            out = Data(count: count * es)
            out.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    var index = [Int](repeating: 0, count: size.count)
                    var srcElem = offset
                    for i in 0..<count {
                        (dst.baseAddress! + i * es).copyMemory(from: src.baseAddress! + srcElem * es, byteCount: es)
                        var d = size.count - 1
                        while d >= 0 {
                            index[d] += 1; srcElem += stride[d]
                            if index[d] < size[d] { break }
                            srcElem -= stride[d] * size[d]; index[d] = 0; d -= 1
                        }
                    }
                }
            }
        }
        if bigEndian && es > 1 { out = NumPyFile.byteSwapped(out, elementSize: es) }
        return StoredTensor(dtype: dtype, shape: size, bytes: out)
    }
}

