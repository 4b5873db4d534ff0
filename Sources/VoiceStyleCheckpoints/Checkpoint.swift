// One entry point for every checkpoint file voicestyle reads: PyTorch (zip and legacy), safetensors,
// NumPy .npy / .npz. Format detection by content, path-based access, typed errors.
import Foundation
import VoiceStyleEngine

/// A checkpoint file opened and parsed into a value tree.
///
/// Paths: components are separated by "/" (`g_ema`, `model`, `centroids/1`). Inside a component, a
/// state-dict key containing dots is one component (`g_ema/conv1.conv.weight`); a component that names a
/// dotted prefix of a flat dictionary (a safetensors file, say) selects the entries under that prefix.
public struct Checkpoint: Sendable {
    public enum Format: String, Sendable {
        case pytorchZip = "PyTorch zip"
        case pytorchLegacy = "PyTorch legacy"
        case safetensors
        case npy = "NumPy .npy"
        case npz = "NumPy .npz"
    }

    public let path: String
    public let format: Format
    public let root: CheckpointValue
    /// Free-form metadata (safetensors `__metadata__`; empty for other formats).
    public let metadata: [String: String]

    public init(path: String, format: Format, root: CheckpointValue, metadata: [String: String] = [:]) {
        self.path = path
        self.format = format
        self.root = root
        self.metadata = metadata
    }

    /// Opens and parses a file. Nothing in it is executed.
    public static func open(_ url: URL) throws -> Checkpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw CheckpointError.unreadable(file: url.path, reason: "no such file")
        }
        guard !isDir.boolValue else { throw CheckpointError.unreadable(file: url.path, reason: "it is a directory") }
        let data = try NumPyFile.readFile(url)
        return try parse(data, file: url.path)
    }

    /// Parses the bytes of a checkpoint file.
    public static func parse(_ data: Data, file: String) throws -> Checkpoint {
        if ZipArchive.looksLikeZip(data) {
            let zip = try ZipArchive(data, file: file)
            if zip.entries.contains(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) {
                return Checkpoint(path: file, format: .pytorchZip, root: try PyTorchFile.readZip(data, file: file))
            }
            if !zip.entries.isEmpty && zip.entries.allSatisfy({ $0.name.hasSuffix(".npy") }) {
                let arrays = try NumPyFile.parseNpz(data, file: file)
                return Checkpoint(path: file, format: .npz,
                                  root: .dict(CheckpointDict(typeName: "npz", entries: arrays.map { ($0.name, .tensor($0.tensor)) })))
            }
            throw CheckpointError.unknownFormat(file: file, reason: "a zip archive that is neither a torch.save file nor an .npz")
        }
        if NumPyFile.looksLikeNpy(data) {
            return Checkpoint(path: file, format: .npy, root: .tensor(try NumPyFile.parseNpy(data, file: file)))
        }
        if data.count >= 9, data[data.startIndex + 8] == UInt8(ascii: "{") {
            let st = try SafeTensorsFile.parse(data, file: file)
            return Checkpoint(path: file, format: .safetensors,
                              root: .dict(CheckpointDict(typeName: "safetensors", entries: st.tensors.map { ($0.name, .tensor($0.tensor)) })),
                              metadata: st.metadata)
        }
        if data.count >= 2, data[data.startIndex] == 0x80, data[data.startIndex + 1] <= 5 {
            return Checkpoint(path: file, format: .pytorchLegacy, root: try PyTorchFile.readLegacy(data, file: file))
        }
        throw CheckpointError.unknownFormat(file: file, reason: "unrecognised leading bytes")
    }

    /// The value at `path` ("" is the root).
    public func value(at path: String) throws -> CheckpointValue {
        var current = root
        var walked: [String] = []
        for component in path.split(separator: "/").map(String.init) {
            guard let next = Checkpoint.child(current, component) else {
                throw CheckpointError.missingEntry(file: self.path, path: (walked + [component]).joined(separator: "/"),
                                                   available: current.children.map(\.key))
            }
            current = next
            walked.append(component)
        }
        return current
    }

    /// A child by key or index; or, in a flat dictionary, the entries under the dotted prefix `key.`.
    static func child(_ v: CheckpointValue, _ key: String) -> CheckpointValue? {
        if let c = v.children.first(where: { $0.key == key }) { return c.value }
        guard case let .dict(d) = v else { return nil }
        let prefix = key + "."
        let sub = d.entries.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) }
        return sub.isEmpty ? nil : .dict(CheckpointDict(typeName: d.typeName, entries: sub))
    }

    /// Every tensor under `path`, keyed by its path below it with nesting levels joined by ".", the way
    /// PyTorch state dicts name parameters.
    public func tensors(under path: String = "") throws -> [(name: String, tensor: StoredTensor)] {
        try value(at: path).tensors().map { ($0.path, $0.tensor) }
    }

    /// The tensor at `path`.
    public func tensor(at path: String) throws -> StoredTensor {
        let v = try value(at: path)
        guard case let .tensor(t) = v else {
            throw CheckpointError.wrongType(file: self.path, path: path, expected: "a tensor", found: v.typeName)
        }
        return t
    }

    /// The tensor at `path` as float32, checking its shape when `shape` is given. float32 data is not
    /// copied: the tensor borrows the file mapping (see `StoredTensor.sharedFloatTensor`), so treat it as
    /// read-only.
    public func floatTensor(at path: String, shape: [Int]? = nil) throws -> Tensor<Float> {
        let t = try tensor(at: path)
        if let shape, t.shape != shape {
            throw CheckpointError.wrongType(file: self.path, path: path, expected: "shape \(shape)", found: "shape \(t.shape)")
        }
        guard t.dtype.isFloatingPoint || t.dtype == .bool || [.int64, .int32, .int16, .int8, .uint8].contains(t.dtype) else {
            throw CheckpointError.wrongType(file: self.path, path: path, expected: "a numeric tensor", found: t.dtype.rawValue)
        }
        return t.sharedFloatTensor()
    }
}
