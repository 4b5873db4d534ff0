// No upstream counterpart: a demo web server started once per test process on a free loopback port, and the
// HTTP clients of its tests (URLSession, and raw sockets for what URLSession hides).
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VoiceStyle
@testable import VoiceStyleServer

/// The test server: demo mode, small limits (2 MiB uploads, 10 s voices), a fresh data folder.
actor TestServer {
    static let shared = TestServer()
    private var started: (server: WebServer, base: URL)?

    static let limits: ServerLimits = {
        var l = ServerLimits()
        l.maxUploadBytes = 2 << 20
        l.maxVoiceSeconds = 10
        return l
    }()

    func get() async throws -> (server: WebServer, base: URL) {
        if let started { return started }
        var options = ServerOptions(data: FileManager.default.temporaryDirectory.appendingPathComponent("vs-serve-\(UUID().uuidString)"))
        options.demo = true
        options.port = 0
        options.limits = Self.limits
        let server = try WebServer(options)
        let base = URL(string: "http://127.0.0.1:\(try await Self.start(server))")!
        started = (server, base)
        return (server, base)
    }

    /// Runs `server` in the background; returns its port once it listens.
    static func start(_ server: WebServer) async throws -> Int {
        let box = PortBox()
        Task.detached { try await server.run { port in box.set(port) } }
        for _ in 0..<500 {
            if let port = box.port { return port }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HTTPTestError("the server did not start listening within 5 s")
    }
}

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int?
    var port: Int? { lock.withLock { value } }
    func set(_ p: Int) { lock.withLock { value = p } }
}

struct HTTPTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A response: status, headers (lower-cased names) and body.
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as a JSON object.
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
}

/// Runs blocking work (sockets, pipes) on a thread of its own. Swift's cooperative threads (as many as cores: 2
/// here) also run the in-process server's handlers and, during `swift test`, other suites' long synchronous tests;
/// a test blocking one of them while the other is busy would starve the server it waits for.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// How long a test waits for one answer of the server: generous, since the whole suite shares 2 cores.
let answerTimeout = 300

/// One request through URLSession (`answerTimeout`).
func http(_ method: String, _ url: URL, body: Data? = nil, contentType: String? = nil, headers: [String: String] = [:]) async throws -> HTTPResult {
    var request = URLRequest(url: url, timeoutInterval: TimeInterval(answerTimeout))
    request.httpMethod = method
    request.httpBody = body
    if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let r = response as! HTTPURLResponse
    var h: [String: String] = [:]
    for (k, v) in r.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
    return HTTPResult(status: r.statusCode, headers: h, body: data)
}

/// A multipart/form-data body: text fields and files (name, filename, bytes).
func multipart(fields: [(String, String)] = [], files: [(String, String, Data)] = []) -> (body: Data, contentType: String) {
    let boundary = "vs-test-\(UUID().uuidString)"
    var body = Data()
    for (name, value) in fields {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
    }
    for (name, filename, data) in files {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n".utf8))
    }
    body.append(Data("--\(boundary)--\r\n".utf8))
    return (body, "multipart/form-data; boundary=\(boundary)")
}

/// Submits a form to `POST /api/KIND`.
func submit(_ base: URL, _ kind: String, fields: [(String, String)] = [], files: [(String, String, Data)] = []) async throws -> HTTPResult {
    let form = multipart(fields: fields, files: files)
    return try await http("POST", base.appendingPathComponent("api/\(kind)"), body: form.body, contentType: form.contentType)
}

/// Polls `GET /api/jobs/ID` until `done(state)` or `seconds` pass; returns the last status.
func waitFor(_ base: URL, job id: String, seconds: Double = 300, until done: (String) -> Bool) async throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        let status = try await http("GET", base.appendingPathComponent("api/jobs/\(id)")).json
        if done(status["state"] as? String ?? "") { return status }
        guard Date() < deadline else { throw HTTPTestError("job \(id) still \(status["state"] ?? "?") after \(seconds) s") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Server-sent events parsed from a stream's text: (type, data) in order.
func parseEvents(_ text: String) -> [(type: String, data: String)] {
    text.components(separatedBy: "\n\n").compactMap { block in
        var type = "message", data: String?
        for line in block.split(separator: "\n") {
            if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
        }
        return data.map { (type, $0) }
    }
}

/// A raw TCP connection to 127.0.0.1:`port` (for requests URLSession would not send, and dropped connections).
final class RawConnection {
    let fd: Int32

    init(port: Int, timeout seconds: Int = answerTimeout) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw HTTPTestError("cannot connect to port \(port)") }
    }

    func send(_ text: String) { send(Data(text.utf8)) }

    func send(_ data: Data) {
        data.withUnsafeBytes { p in
            var sent = 0
            while sent < data.count {
                let n = Glibc.send(fd, p.baseAddress! + sent, data.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }

    /// Reads until `marker` appears, the peer closes, or the timeout; returns what came.
    func read(until marker: String? = nil) -> String { String(decoding: readData(until: marker), as: UTF8.self) }

    /// Reads until `marker` appears, `complete` says the response is whole, the peer closes, or the timeout.
    func readData(until marker: String? = nil, complete: (Data) -> Bool = { _ in false }) -> Data {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
            if let marker, String(decoding: received, as: UTF8.self).contains(marker) { break }
            if complete(received) { break }
        }
        return received
    }

    /// One HTTP/1.1 request with `Connection: close` to 127.0.0.1:`port`, for peers whose responses URLSession
    /// cannot parse (chromedriver writes "Name:value" headers without the space).
    static func request(port: Int, _ method: String, _ path: String, json body: Data? = nil, timeout: Int = answerTimeout) throws -> HTTPResult {
        let c = try RawConnection(port: port, timeout: timeout)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        c.send(head + "\r\n")
        if let body { c.send(body) }
        // Whole when the headers and Content-Length bytes have come (chromedriver keeps the connection open).
        let raw = c.readData { data in
            guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return false }
            let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).lowercased()
            guard let line = head.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                  let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
            return data.count - split.upperBound >= length
        }
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw HTTPTestError("no HTTP response from port \(port)") }
        let lines = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var content = Data(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded = Data(), rest = content[...]
            while let end = rest.range(of: Data("\r\n".utf8)),
                  let size = Int(String(decoding: rest[..<end.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16), size > 0,
                  rest.count >= end.upperBound - rest.startIndex + size {
                decoded.append(rest[end.upperBound..<end.upperBound + size])
                rest = rest[(end.upperBound + size + 2)...]
            }
            content = decoded
        }
        return HTTPResult(status: status, headers: headers, body: content)
    }

    deinit { close(fd) }
}

/// The first bundled demo clip.
func demoClip() throws -> URL { try Demo.voices[0] }

/// A 16 kHz mono 16-bit WAV of `seconds` of silence.
func silentWAV(seconds: Double) -> Data {
    let n = Int(seconds * 16000)
    var d = Data("RIFF".utf8)
    func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    u32(36 + 2 * n); d.append(Data("WAVEfmt ".utf8)); u32(16); u16(1); u16(1); u32(16000); u32(32000); u16(2); u16(16)
    d.append(Data("data".utf8)); u32(2 * n)
    d.append(Data(count: 2 * n))
    return d
}

/// Resident memory of this process in KiB (VmRSS).
func residentKiB(pid: Int32 = getpid()) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
}

/// Samples this process's resident memory every 20 ms on a thread of its own until `stop`, which returns the largest.
final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = residentKiB(), running = true

    init() {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let now = residentKiB()
                lock.withLock { peak = max(peak, now) }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }

    func stop() -> Int { lock.withLock { running = false; return peak } }
}
