// No upstream counterpart: who may reach `voicestyle serve` besides its token (README "Who may use it"): the
// names a request may address it by (Host, against DNS rebinding), the sites that may change its state (Origin, against
// cross-site forms), uploads decoded a few at a time, and malformed HTTP answered in JSON like every other error.
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The Host and Origin rules of a server bound to `host`.
struct AccessRule: Sendable {
    /// The host names a request may address (lower case, IPv6 in brackets); nil: any (a wildcard bind, where the
    /// token guards every route).
    let hosts: Set<String>?

    /// Without a token (loopback binds) a request must address the server as localhost, 127.0.0.1, [::1] or the
    /// bound host: a page of another site that rebinds its own name to 127.0.0.1 is refused. With a token the
    /// token does that (the other site never has it), so any name is accepted.
    init(host: String, token: String?) {
        let bound = host.contains(":") && !host.hasPrefix("[") ? "[\(host.lowercased())]" : host.lowercased()
        hosts = token != nil ? nil : ["localhost", "127.0.0.1", "[::1]", bound]
    }

    /// The host part of a Host header value ("127.0.0.1:8080" → "127.0.0.1", "[::1]:80" → "[::1]"), lower case.
    static func hostName(_ value: String) -> String {
        let v = value.trimmingCharacters(in: .whitespaces).lowercased()
        if v.hasPrefix("["), let close = v.firstIndex(of: "]") { return String(v[...close]) }
        return String(v.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// Why `request` is refused (one sentence), or nil. State-changing methods (POST, PUT, PATCH, DELETE) from a
    /// page must come from the server's own origin: an Origin header other than http://HOST is refused.
    func refusal(method: HTTPRequest.Method, host: String?, origin: String?) -> String? {
        if let hosts, let host, !hosts.contains(Self.hostName(host)) {
            return "this server answers only to \(hosts.sorted().joined(separator: ", ")) (the request named \(host.prefix(100))): "
                + "pages of other sites cannot use it"
        }
        guard [.post, .put, .patch, .delete].contains(method), let origin else { return nil }
        guard let host, origin.lowercased() == "http://\(host.lowercased())" else {
            return "requests from other sites are refused (Origin \(origin.prefix(100)))"
        }
        return nil
    }
}

/// Answers a request that is not valid HTTP/1.1 (a request line or headers longer than the decoder's 80 KiB, bad
/// tokens) with a JSON error body, instead of an empty 400, then closes the connection.
final class MalformedRequestAnswer: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        let message = parse == .headerOverflow ? "the request's address or headers are longer than 80 KiB"
            : "the request is not valid HTTP/1.1 (\(parse))"
        let body = ByteBuffer(bytes: apiJSON(ErrorBody(error: message)))
        let head = HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/json; charset=utf-8", .contentLength: "\(body.readableBytes)",
                                                                   .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.close(promise: nil)
    }
}

/// At most `limit` uploads decoded at a time, each on a thread of its own (never on Swift's cooperative threads,
/// which serve every other request); up to `waiting` more wait for a turn, further ones are refused with 503.
final class DecodeSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let waiting: Int

    init(limit: Int, waiting: Int) { (free, self.waiting) = (max(1, limit), max(0, waiting)) }

    /// Runs `body` in a slot (waiting for one), off the cooperative threads.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    private func acquire() async throws {
        let queued: Bool = try lock.withLock {
            if free > 0 { free -= 1; return false }
            guard waiters.count < waiting else { throw APIError(503, "the server is decoding other uploads; try again in a moment") }
            return true
        }
        guard queued else { return }
        await withCheckedContinuation { continuation in
            // A slot freed between the check and here is handed over by `release` through `waiters`.
            let now: Bool = lock.withLock {
                if free > 0 { free -= 1; return true }
                waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if waiters.isEmpty { free += 1; return nil }
            return waiters.removeFirst()
        }
        next?.resume()
    }
}
