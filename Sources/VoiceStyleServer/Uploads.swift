// No upstream counterpart: what the web API accepts from a client (multipart forms, files sniffed by content,
// limits), before any job starts.
import Foundation

/// A refusal of the API: an HTTP status and one plain sentence (sent as `{"error": "…"}`).
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var description: String
    public init(_ status: Int, _ description: String) { self.status = status; self.description = description }

    static func badRequest(_ m: String) -> APIError { APIError(400, m) }
    static func notFound(_ m: String) -> APIError { APIError(404, m) }
    static func tooLarge(_ m: String) -> APIError { APIError(413, m) }
    static func unsupported(_ m: String) -> APIError { APIError(415, m) }
    static func unprocessable(_ m: String) -> APIError { APIError(422, m) }
}

/// One part of a multipart/form-data body.
struct FormPart {
    var name: String
    var filename: String?
    var data: Data
    /// The part as text (form fields).
    var text: String { String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// A parsed multipart/form-data body: text fields and files by field name.
struct Form {
    var parts: [FormPart]

    /// The boundary of a `multipart/form-data; boundary=…` content type.
    static func boundary(contentType: String?) throws -> String {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError.unsupported("the request body must be multipart/form-data (got \(contentType ?? "none"))")
        }
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let b = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                guard (1...70).contains(b.utf8.count) else { break }
                return b
            }
        }
        throw APIError.badRequest("the multipart/form-data content type has no valid boundary")
    }

    /// Splits `body` at `boundary` (RFC 7578): at most 32 parts, headers of at most 8 KiB each.
    init(body: Data, boundary: String) throws {
        let delimiter = Data("--\(boundary)".utf8), crlf = Data("\r\n".utf8), headerEnd = Data("\r\n\r\n".utf8)
        let next = Data("\r\n--\(boundary)".utf8)
        let malformed = APIError.badRequest("the multipart/form-data body is malformed")
        guard let first = body.range(of: delimiter) else { throw malformed }
        var cursor = first.upperBound
        parts = []
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            guard body.count >= cursor + 2 else { throw malformed }
            if body[cursor] == UInt8(ascii: "-"), body[cursor + 1] == UInt8(ascii: "-") { break }
            guard body[cursor..<cursor + 2] == crlf else { throw malformed }
            cursor += 2
            guard let end = body.range(of: headerEnd, in: cursor..<body.count), end.lowerBound - cursor <= 8192 else { throw malformed }
            let headers = String(decoding: body[cursor..<end.lowerBound], as: UTF8.self)
            guard let close = body.range(of: next, in: end.upperBound..<body.count) else { throw malformed }
            var name: String?, filename: String?
            for line in headers.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                name = Form.parameter("name", in: line)
                filename = Form.parameter("filename", in: line)
            }
            guard let name else { throw malformed }
            parts.append(FormPart(name: name, filename: filename, data: Data(body[end.upperBound..<close.lowerBound])))
            guard parts.count <= 32 else { throw APIError.badRequest("the form has more than 32 parts") }
            cursor = close.upperBound
        }
    }

    private static func parameter(_ key: String, in line: String) -> String? {
        for piece in line.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == key { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    /// The file part named `name`, if any.
    func file(_ name: String) -> FormPart? { parts.first { $0.name == name && !$0.data.isEmpty } }

    /// The text field `name`, if given and not empty (at most 200 bytes).
    func field(_ name: String) throws -> String? {
        guard let p = parts.first(where: { $0.name == name }) else { return nil }
        guard p.data.count <= 200 else { throw APIError.badRequest("form field \(name) is longer than 200 bytes") }
        let t = p.text
        return t.isEmpty ? nil : t
    }

    /// An integer field in `range` (`fallback` when absent).
    func integer(_ name: String, _ range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let t = try field(name) else { return fallback }
        guard let v = Int(t), range.contains(v) else {
            throw APIError.unprocessable("\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound) (got \(t))")
        }
        return v
    }

    /// A field that must be one of `allowed` (`fallback` when absent).
    func choice(_ name: String, _ allowed: [String], default fallback: String) throws -> String {
        guard let t = try field(name) else { return fallback }
        guard allowed.contains(t) else { throw APIError.unprocessable("\(name) must be one of \(allowed.joined(separator: ", ")) (got \(t))") }
        return t
    }

    /// A checkbox-like field: 1/true/on/yes or 0/false/off/no.
    func flag(_ name: String, default fallback: Bool) throws -> Bool {
        guard let t = try field(name)?.lowercased() else { return fallback }
        if ["1", "true", "on", "yes"].contains(t) { return true }
        if ["0", "false", "off", "no"].contains(t) { return false }
        throw APIError.unprocessable("\(name) must be true or false (got \(t))")
    }
}

/// File kinds recognised by their first bytes (never by name or declared type).
enum Sniff {
    /// "wav", "flac", "ogg" or "mp3" for the audio formats libsndfile reads, else nil.
    static func audio(_ d: Data) -> String? {
        let b = [UInt8](d.prefix(12))
        guard b.count >= 4 else { return nil }
        if b.count >= 12, b[0..<4] == [0x52, 0x49, 0x46, 0x46], b[8..<12] == [0x57, 0x41, 0x56, 0x45] { return "wav" }  // RIFF....WAVE
        if b[0..<4] == [0x66, 0x4C, 0x61, 0x43] { return "flac" }  // fLaC
        if b[0..<4] == [0x4F, 0x67, 0x67, 0x53] { return "ogg" }  // OggS
        if b[0..<3] == [0x49, 0x44, 0x33] || (b[0] == 0xFF && b[1] & 0xE0 == 0xE0) { return "mp3" }  // ID3 tag or frame sync
        return nil
    }

    /// "png" or "jpg", else nil.
    static func image(_ d: Data) -> String? {
        let b = [UInt8](d.prefix(8))
        if b == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return "png" }
        if b.count >= 3, b[0..<3] == [0xFF, 0xD8, 0xFF] { return "jpg" }
        return nil
    }

    /// Width and height declared by a PNG (IHDR) or JPEG (first SOF marker) header, read before decoding.
    static func imageSize(_ d: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](d)
        func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        func be32(_ i: Int) -> Int { be16(i) << 16 | be16(i + 2) }
        if image(d) == "png" { return b.count >= 24 ? (be32(16), be32(20)) : nil }
        guard image(d) == "jpg" else { return nil }
        var i = 2
        while i + 9 < b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }
            if (0xD0...0xD9).contains(marker) || marker == 0x01 { i += 2; continue }
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) { return (be16(i + 7), be16(i + 5)) }
            i += 2 + be16(i + 2)
        }
        return nil
    }
}
