// Follows torch/serialization.py `_save` (zip format, protocol 2 pickle): writes a state dict of tensors
// that torch.load reads as an OrderedDict. Used for conversions back to PyTorch and for benchmarks.
import Foundation

extension PyTorchFile {
    static let storageTypeNames: [DType: String] = [
        .float32: "FloatStorage", .float64: "DoubleStorage", .float16: "HalfStorage", .bfloat16: "BFloat16Storage",
        .int64: "LongStorage", .int32: "IntStorage", .int16: "ShortStorage", .int8: "CharStorage",
        .uint8: "ByteStorage", .bool: "BoolStorage",
    ]

    /// The bytes of a `torch.save(OrderedDict(state_dict))` zip file; `archive` names its top folder.
    static func zipData(stateDict: [(name: String, tensor: StoredTensor)], archive: String = "archive") throws -> Data {
        var p = Data([0x80, 0x02])
        func op(_ b: UInt8) { p.append(b) }
        func global(_ module: String, _ name: String) { op(0x63); p.append(Data("\(module)\n\(name)\n".utf8)) }
        func text(_ s: String) {
            let b = Data(s.utf8)
            op(0x58)
            withUnsafeBytes(of: UInt32(b.count).littleEndian) { p.append(contentsOf: $0) }
            p.append(b)
        }
        func int(_ v: Int) {
            op(0x8A); op(8)  // LONG1, 8 bytes: any Int
            withUnsafeBytes(of: Int64(v).littleEndian) { p.append(contentsOf: $0) }
        }
        global("collections", "OrderedDict"); op(0x29); op(0x52)  // OrderedDict()
        op(0x28)  // MARK for SETITEMS
        for (i, (name, t)) in stateDict.enumerated() {
            guard let storage = storageTypeNames[t.dtype] else {
                throw CheckpointError.unwritable(file: "", reason: "PyTorch has no storage type for \(t.dtype.rawValue)")
            }
            text(name)
            global("torch._utils", "_rebuild_tensor_v2")
            op(0x28)  // MARK: args
            op(0x28); text("storage"); global("torch", storage); text(String(i)); text("cpu"); int(t.count); op(0x74); op(0x51)
            int(0)
            op(0x28); for d in t.shape { int(d) }; op(0x74)
            op(0x28); for s in rowMajorStrides(t.shape) { int(s) }; op(0x74)
            op(0x89)  // requires_grad False
            global("collections", "OrderedDict"); op(0x29); op(0x52)
            op(0x74); op(0x52)  // TUPLE, REDUCE
        }
        op(0x75); op(0x2E)  // SETITEMS, STOP
        var zip = ZipWriter()
        zip.add(name: "\(archive)/data.pkl", contents: p)
        zip.add(name: "\(archive)/byteorder", contents: Data("little".utf8))
        for (i, (_, t)) in stateDict.enumerated() { zip.add(name: "\(archive)/data/\(i)", contents: t.bytes, alignment: 64) }
        zip.add(name: "\(archive)/version", contents: Data("3\n".utf8))
        return zip.finished()
    }

    /// Writes a state dict as a PyTorch zip-format file, atomically.
    public static func writeZip(stateDict: [(name: String, tensor: StoredTensor)], to url: URL) throws {
        do {
            try zipData(stateDict: stateDict, archive: url.deletingPathExtension().lastPathComponent).writeOutput(to: url)
        } catch let e as CheckpointError {
            if case let .unwritable(_, r) = e { throw CheckpointError.unwritable(file: url.path, reason: r) }
            throw e
        } catch {
            throw CheckpointError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }
}
