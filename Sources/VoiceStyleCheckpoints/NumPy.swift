// Follows numpy/lib/format.py (the .npy format, versions 1.0–3.0) and numpy.savez / numpy.load for .npz.
import Foundation

/// Reads and writes NumPy `.npy` arrays and `.npz` archives.
public enum NumPyFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    static let descrTypes: [String: DType] = [
        "f8": .float64, "f4": .float32, "f2": .float16, "i8": .int64, "i4": .int32, "i2": .int16, "i1": .int8,
        "u8": .uint64, "u4": .uint32, "u2": .uint16, "u1": .uint8, "b1": .bool,
    ]

    /// True when the bytes start with the .npy magic.
    static func looksLikeNpy(_ data: Data) -> Bool { data.count >= 6 && data.prefix(6).elementsEqual(magic) }

    /// Parses one .npy array. Fortran-ordered arrays are converted to row-major order; big-endian data is
    /// byte-swapped.
    public static func parseNpy(_ data: Data, file: String = "<memory>") throws -> StoredTensor {
        func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: "npy: \(r)") }
        guard looksLikeNpy(data), data.count >= 10 else { throw CheckpointError.unknownFormat(file: file, reason: "no .npy magic") }
        let b = data.startIndex
        let major = data[b + 6]
        let headerLen: Int, headerStart: Int
        switch major {
        case 1: headerLen = Int(data[b + 8]) | Int(data[b + 9]) << 8; headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw corrupt("truncated header") }
            headerLen = (0..<4).reduce(0) { $0 | Int(data[b + 8 + $1]) << (8 * $1) }; headerStart = 12
        default: throw corrupt("unsupported format version \(major)")
        }
        guard headerLen <= data.count - headerStart else { throw corrupt("header runs past the end") }
        let header = String(decoding: data[(b + headerStart)..<(b + headerStart + headerLen)], as: UTF8.self)
        guard let descr = field(header, "descr"), let fortranText = field(header, "fortran_order"), let shapeText = field(header, "shape") else {
            throw corrupt("header lacks descr, fortran_order or shape: \(header)")
        }
        let d = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        guard d.count >= 2 else { throw corrupt("bad descr \(descr)") }
        var code = d
        var bigEndian = false
        if let f = d.first, "<>|=".contains(f) { bigEndian = f == ">"; code = String(d.dropFirst()) }
        guard let dtype = descrTypes[code] else { throw corrupt("unsupported dtype '\(d)' (supported: float64/32/16, int64/32/16/8, uint64/32/16/8, bool)") }
        let fortran = fortranText.trimmingCharacters(in: .whitespaces) == "True"
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for s in dims {
            guard let v = Int(s.hasSuffix("L") ? String(s.dropLast()) : s), v >= 0, v < Int(Int32.max) else { throw corrupt("bad shape \(shapeText)") }
            shape.append(v)
        }
        var count = 1
        for n in shape {
            let (c, o) = count.multipliedReportingOverflow(by: n)
            guard !o else { throw corrupt("shape \(shape) overflows") }
            count = c
        }
        let start = headerStart + headerLen
        guard count <= (data.count - start) / dtype.size else {
            throw corrupt("\(count) elements of \(dtype.rawValue) do not fit the \(data.count - start) data bytes (truncated?)")
        }
        let raw = data[(b + start)..<(b + start + count * dtype.size)]
        return try makeTensor(raw, dtype: dtype, shape: shape, fortran: fortran, bigEndian: bigEndian, file: file)
    }

    /// The text of `'key': value` in a .npy header dictionary (value up to the next top-level comma).
    private static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var out = ""
        for ch in header[r.upperBound...] {
            if ch == "(" || ch == "[" { depth += 1 }
            if ch == ")" || ch == "]" { depth -= 1 }
            if (ch == "," && depth == 0) || ch == "}" { break }
            out.append(ch)
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// Builds a row-major tensor from raw element bytes.
    static func makeTensor(_ raw: Data, dtype: DType, shape: [Int], fortran: Bool, bigEndian: Bool, file: String) throws -> StoredTensor {
        let count = shape.reduce(1, *)
        guard raw.count >= count * dtype.size else {
            throw CheckpointError.corrupt(file: file, reason: "array data shorter than its shape \(shape)")
        }
        var bytes = raw.prefix(count * dtype.size)
        if bigEndian && dtype.size > 1 { bytes = byteSwapped(bytes, elementSize: dtype.size) }
        if fortran && shape.count > 1 {
            // Fortran order of shape s = row-major order of reversed(s); transpose back.
            let es = dtype.size, rev = Array(shape.reversed())
            let revStrides = rowMajorStrides(rev)
            var out = Data(count: count * es)
            out.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    var index = [Int](repeating: 0, count: shape.count)
                    for i in 0..<count {
                        // index is the row-major multi-index in `shape`; its element sits at reversed index in `rev`.
                        var s = 0
                        for k in 0..<shape.count { s += index[k] * revStrides[shape.count - 1 - k] }
                        (dst.baseAddress! + i * es).copyMemory(from: src.baseAddress! + s * es, byteCount: es)
                        var d = shape.count - 1
                        while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
                    }
                }
            }
            bytes = out
        }
        return StoredTensor(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Reverses the bytes of every element.
    static func byteSwapped(_ data: Data, elementSize es: Int) -> Data {
        var out = Data(data)
        out.withUnsafeMutableBytes { p in
            let b = p.bindMemory(to: UInt8.self)
            var i = 0
            while i + es <= b.count {
                var lo = i, hi = i + es - 1
                while lo < hi { b.swapAt(lo, hi); lo += 1; hi -= 1 }
                i += es
            }
        }
        return out
    }

    /// The .npy bytes of a tensor (format 1.0, or 2.0 for very long headers; little-endian, C order).
    public static func npyData(_ t: StoredTensor) throws -> Data {
        guard let code = descrTypes.first(where: { $0.value == t.dtype })?.key else {
            throw CheckpointError.unwritable(file: "", reason: "NumPy has no \(t.dtype.rawValue) type")
        }
        let order = t.dtype.size == 1 ? "|" : "<"
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(order)\(code)', 'fortran_order': False, 'shape': \(shape), }"
        let v2 = header.utf8.count + 11 > 65535
        let prefix = v2 ? 12 : 10
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data(magic)
        out.append(contentsOf: v2 ? [2, 0] : [1, 0])
        let n = header.utf8.count
        if v2 { out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24 & 0xFF)]) }
        else { out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)]) }
        out.append(Data(header.utf8))
        out.append(t.bytes)
        return out
    }

    /// Reads an .npy file.
    public static func readNpy(_ url: URL) throws -> StoredTensor {
        try parseNpy(try readFile(url), file: url.path)
    }

    /// Writes an .npy file atomically.
    public static func writeNpy(_ t: StoredTensor, to url: URL) throws {
        do { try npyData(t).writeOutput(to: url) } catch let e as CheckpointError { throw e } catch {
            throw CheckpointError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }

    /// Parses an .npz archive (stored or deflated entries) into named arrays, in archive order.
    public static func parseNpz(_ data: Data, file: String = "<memory>") throws -> [(name: String, tensor: StoredTensor)] {
        let zip = try ZipArchive(data, file: file)
        return try zip.entries.filter { $0.name.hasSuffix(".npy") }.map { e in
            (String(e.name.dropLast(4)), try parseNpy(try zip.contents(of: e), file: "\(file)[\(e.name)]"))
        }
    }

    /// Reads an .npz file.
    public static func readNpz(_ url: URL) throws -> [(name: String, tensor: StoredTensor)] {
        try parseNpz(try readFile(url), file: url.path)
    }

    /// Writes an .npz archive (uncompressed, as numpy.savez) atomically.
    public static func writeNpz(_ arrays: [(name: String, tensor: StoredTensor)], to url: URL) throws {
        var zip = ZipWriter()
        for (name, t) in arrays { zip.add(name: name + ".npy", contents: try npyData(t)) }
        do { try zip.finished().writeOutput(to: url) } catch {
            throw CheckpointError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }

    static func readFile(_ url: URL) throws -> Data { try MappedFile.map(url) }
}

/// Row-major strides of a shape (extents of 0 count as 1).
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= max(shape[i], 1) }
    return s
}
