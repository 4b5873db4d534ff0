// Follows the safetensors format (huggingface/safetensors): u64 little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the data.
import Foundation

/// A safetensors file: named tensors (in file order) and the free-form string metadata.
public struct SafeTensorsFile: Sendable {
    public var tensors: [(name: String, tensor: StoredTensor)]
    public var metadata: [String: String]

    public init(tensors: [(name: String, tensor: StoredTensor)] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`, or nil.
    public subscript(name: String) -> StoredTensor? { tensors.first { $0.name == name }?.tensor }

    static let dtypeCodes: [String: DType] = [
        "F64": .float64, "F32": .float32, "F16": .float16, "BF16": .bfloat16,
        "I64": .int64, "I32": .int32, "I16": .int16, "I8": .int8,
        "U64": .uint64, "U32": .uint32, "U16": .uint16, "U8": .uint8, "BOOL": .bool,
        "F8_E4M3": .float8e4m3, "F8_E5M2": .float8e5m2,
    ]

    /// Reads a file (memory-mapped: tensor bytes are slices of the mapping, copied only on conversion).
    public static func read(_ url: URL) throws -> SafeTensorsFile {
        try parse(try MappedFile.map(url), file: url.path)
    }

    /// Parses the bytes of a safetensors file. Every offset and size is checked before use.
    public static func parse(_ data: Data, file: String = "<memory>") throws -> SafeTensorsFile {
        func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: r) }
        guard data.count >= 8 else { throw CheckpointError.unknownFormat(file: file, reason: "shorter than a safetensors header") }
        let base = data.startIndex
        let n = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n >= 2, n <= UInt64(data.count - 8), n < 100_000_000 else {
            throw CheckpointError.unknownFormat(file: file, reason: "header length \(n) does not fit a \(data.count)-byte file")
        }
        let headerBytes = data[(base + 8)..<(base + 8 + Int(n))]
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes), let header = json as? [String: Any] else {
            throw CheckpointError.unknownFormat(file: file, reason: "the header is not a JSON object")
        }
        let dataStart = base + 8 + Int(n)
        let dataLength = data.count - 8 - Int(n)
        var out = SafeTensorsFile()
        var entries: [(name: String, begin: Int, tensor: StoredTensor)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw corrupt("metadata value '\(k)' is not a string") }
                    out.metadata[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any], let code = e["dtype"] as? String,
                  let shapeAny = e["shape"] as? [Any], let offAny = e["data_offsets"] as? [Any], offAny.count == 2 else {
                throw corrupt("entry '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = dtypeCodes[code] else { throw corrupt("entry '\(name)' has unknown dtype \(code)") }
            let shape = try shapeAny.map { v -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0, i < Int(Int32.max) else { throw corrupt("entry '\(name)' has a bad shape") }
                return i
            }
            let offs = try offAny.map { v -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0 else { throw corrupt("entry '\(name)' has bad data_offsets") }
                return i
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p < Int(UInt32.max) * 64 else { throw corrupt("entry '\(name)' has an absurd shape \(shape)") }
                count = p
            }
            guard offs[0] <= offs[1], offs[1] <= dataLength else {
                throw corrupt("entry '\(name)' bytes \(offs[0])..<\(offs[1]) lie outside the \(dataLength)-byte data section")
            }
            guard offs[1] - offs[0] == count * dtype.size else {
                throw corrupt("entry '\(name)' has \(offs[1] - offs[0]) bytes for shape \(shape) of \(dtype.rawValue)")
            }
            let bytes = data[(dataStart + offs[0])..<(dataStart + offs[1])]
            entries.append((name, offs[0], StoredTensor(dtype: dtype, shape: shape, bytes: bytes)))
        }
        entries.sort { ($0.begin, $0.tensor.bytes.count, $0.name) < ($1.begin, $1.tensor.bytes.count, $1.name) }
        // As the reference reader (safetensors' `validate`): the tensors fill the data section exactly, in order,
        // without gaps, overlaps or trailing bytes.
        var end = 0
        for e in entries {
            guard e.begin == end else {
                throw corrupt("entry '\(e.name)' starts at byte \(e.begin) of the data section where the tensors before it end at \(end) (a gap or an overlap)")
            }
            end += e.tensor.bytes.count
        }
        guard end == dataLength else { throw corrupt("its tensors end at byte \(end) of a \(dataLength)-byte data section (trailing bytes)") }
        out.tensors = entries.map { ($0.name, $0.tensor) }
        return out
    }

    /// The file's bytes: tensors in the given order, header padded with spaces to a multiple of 8.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, t) in tensors {
            guard name != "__metadata__" else { throw CheckpointError.unwritable(file: "", reason: "'__metadata__' is reserved") }
            guard t.bytes.count == t.count * t.dtype.size else {
                throw CheckpointError.unwritable(file: "", reason: "tensor '\(name)' has \(t.bytes.count) bytes for shape \(t.shape)")
            }
            let code = Self.dtypeCodes.first { $0.value == t.dtype }!.key
            header[name] = ["dtype": code, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]] as [String: Any]
            offset += t.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in tensors { out.append(t.bytes) }
        return out
    }

    /// Writes the file atomically (a temporary file renamed into place).
    public func write(to url: URL) throws {
        do { try serialized().writeOutput(to: url) } catch let e as CheckpointError {
            if case let .unwritable(_, r) = e { throw CheckpointError.unwritable(file: url.path, reason: r) }
            throw e
        } catch {
            throw CheckpointError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }
}
