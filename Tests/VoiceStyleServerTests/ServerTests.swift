// No upstream counterpart: `voicestyle serve`'s API against a demo server on a free loopback port: a job end to
// end over the event stream, cancel, the queue, hostile input, the access token, and a bounded load from
// another process.
import Foundation
import Testing
import VoiceStyle
@testable import VoiceStyleServer
import VoiceStyleTestSupport

@Suite("Web server", .serialized)
struct ServerTests {
    @Test("health: demo index, examples and limits")
    func health() async throws {
        let (_, base) = try await TestServer.shared.get()
        let r = try await http("GET", base.appendingPathComponent("api/health"))
        #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix("application/json") == true)
        #expect(r.json["demo"] as? Bool == true && r.json["indexes"] as? [String] == ["demo"])
        #expect((r.json["examples"] as? [String])?.count == 2)
        let page = try await http("GET", base)
        #expect(page.status == 200 && page.text.contains("<title>voicestyle</title>"))
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
    }

    @Test("infer: upload a demo clip, stream the events to the end, fetch a valid face.png and the other outputs")
    func inferEndToEnd() async throws {
        let (_, base) = try await TestServer.shared.get()
        let clip = try demoClip()
        let started = Date()
        let r = try await submit(base, "infer", fields: [("k", "3"), ("steps", "8"), ("seed", "7"), ("aggregate", "similarity")],
                                 files: [("voice", "clip.wav", try Data(contentsOf: clip))])
        #expect(r.status == 202)
        let id = try #require(r.json["job"] as? String)
        #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
        // The stream ends when the job does: every event so far, then each new one.
        let stream = try await http("GET", base.appendingPathComponent("api/jobs/\(id)/events"))
        let seconds = Date().timeIntervalSince(started)
        #expect(stream.headers["content-type"] == "text/event-stream")
        let events = parseEvents(stream.text)
        #expect(events.contains { $0.type == "progress" && $0.data.contains("\"stage\":\"refinement\"") })
        #expect(events.contains { $0.type == "preview" })
        let last = try #require(events.last)
        #expect(last.type == "status" && last.data.contains("\"state\":\"done\""), "\(last)")
        let status = try await http("GET", base.appendingPathComponent("api/jobs/\(id)")).json
        let result = try #require(status["result"] as? [String: Any])
        let outputs = Set(result["outputs"] as? [String] ?? [])
        #expect(outputs.isSuperset(of: ["face.png", "sheet.png", "latent.npy", "report.json", "preview.png"]))
        #expect((result["curve"] as? [Double])?.count == 8)
        let gallery = try #require(result["gallery"] as? [[String: Any]])
        #expect(gallery.count == 3 && gallery.allSatisfy { $0["identity"] is String && $0["cosine"] is Double && $0["weight"] is Double })
        // The outputs: a decodable PNG face, the report, every gallery picture.
        let face = try await http("GET", base.appendingPathComponent("api/jobs/\(id)/face.png"))
        #expect(face.status == 200 && face.headers["content-type"] == "image/png")
        let image = try PNGCodec.decode(face.body)
        // 32 px from the untrained stand-in; 256 px from the trained face DCGAN where set-up fetched it.
        #expect((image.width == 32 && image.height == 32) || (image.width == 256 && image.height == 256), "\(image.width)×\(image.height)")
        let report = try decodeReport(InferReport.self, from: try await http("GET", base.appendingPathComponent("api/jobs/\(id)/report.json")).body)
        #expect(report.prototypes.count == 3 && report.steps.count == 8 && report.request.config.seed == 7)
        for item in gallery {
            for key in ["image", "inversion"] {  // the photo and the generator's picture of its latent
                let picture = try await http("GET", base.appendingPathComponent("api/jobs/\(id)/\(item[key] as? String ?? "-")"))
                #expect(picture.status == 200 && (try? PNGCodec.decode(picture.body)) != nil, "\(key) of \(item)")
            }
        }
        let latent = try await http("GET", base.appendingPathComponent("api/jobs/\(id)/latent.npy"))
        #expect(latent.headers["content-disposition"]?.contains("attachment") == true)
        print("web infer job (k 3, 8 steps) submit → done: \(String(format: "%.2f", seconds)) s")
    }

    @Test("queue and cancel: positions, a queued job cancelled at once, a running one between steps, the next runs")
    func queueAndCancel() async throws {
        let (_, base) = try await TestServer.shared.get()
        let example = try demoClip().lastPathComponent
        let long = try await submit(base, "infer", fields: [("example", example), ("steps", "2000")])
        let a = try #require(long.json["job"] as? String)
        _ = try await waitFor(base, job: a) { $0 == "running" }
        let second = try await submit(base, "infer", fields: [("example", example), ("steps", "4")])
        let third = try await submit(base, "infer", fields: [("example", example), ("steps", "4")])
        #expect(second.json["position"] as? Int == 1 && third.json["position"] as? Int == 2)
        let b = try #require(second.json["job"] as? String), c = try #require(third.json["job"] as? String)
        // Cancelling the queued third job ends it at once; the second keeps its place.
        let cancelled = try await http("DELETE", base.appendingPathComponent("api/jobs/\(c)"))
        #expect(cancelled.status == 200 && cancelled.json["state"] as? String == "cancelled")
        #expect(try await http("GET", base.appendingPathComponent("api/jobs/\(b)")).json["position"] as? Int == 1)
        // The running job stops at its next step.
        let asked = Date()
        _ = try await http("DELETE", base.appendingPathComponent("api/jobs/\(a)"))
        let stopped = try await waitFor(base, job: a, seconds: 20) { $0 != "running" }
        #expect(stopped["state"] as? String == "cancelled")
        print("web cancel: running job stopped \(String(format: "%.2f", Date().timeIntervalSince(asked))) s after DELETE")
        // The second job then runs to the end; its stream shows it waiting at position 1 first.
        let events = parseEvents(try await http("GET", base.appendingPathComponent("api/jobs/\(b)/events")).text)
        #expect(events.first?.data.contains("\"position\":1") == true)
        #expect(events.last?.data.contains("\"state\":\"done\"") == true)
        // A finished job can no longer be cancelled.
        #expect(try await http("DELETE", base.appendingPathComponent("api/jobs/\(b)")).json["state"] as? String == "done")
    }

    @Test("hostile input: clear JSON errors (400/413/415/422/404), no path traversal, no job left behind")
    func hostileInput() async throws {
        let (server, base) = try await TestServer.shared.get()
        let clip = try Data(contentsOf: try demoClip())
        func expectError(_ r: HTTPResult, _ status: Int, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == status, "\(r.status) \(r.text)", sourceLocation: sourceLocation)
            #expect(r.headers["content-type"]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
            #expect((r.json["error"] as? String)?.contains(words) == true, "\(r.text)", sourceLocation: sourceLocation)
        }
        let infer = base.appendingPathComponent("api/infer")
        expectError(try await http("POST", infer, body: Data("{}".utf8), contentType: "application/json"), 415, "multipart/form-data")
        expectError(try await http("POST", infer, body: Data("--x\r\nnonsense".utf8), contentType: "multipart/form-data; boundary=x"), 400, "malformed")
        expectError(try await submit(base, "infer", fields: [("k", "3")]), 400, "needs a voice")
        let png = try PNGCodec.encode(RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 9, count: 12)))
        expectError(try await submit(base, "infer", files: [("voice", "voice.wav", png)]), 415, "WAV, FLAC, OGG or MP3")
        expectError(try await submit(base, "infer", files: [("voice", "voice.wav", Data("just text, not audio".utf8))]), 415, "first bytes")
        var garbage = Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8)
        garbage.append(Data(repeating: 0x5A, count: 100))
        expectError(try await submit(base, "infer", files: [("voice", "voice.wav", garbage)]), 422, "cannot be read as audio")
        expectError(try await submit(base, "infer", files: [("voice", "long.wav", silentWAV(seconds: 12))]), 422, "limit is 10 s")
        expectError(try await submit(base, "infer", fields: [("k", "0")], files: [("voice", "v.wav", clip)]), 422, "k must be")
        expectError(try await submit(base, "infer", fields: [("steps", "999999")], files: [("voice", "v.wav", clip)]), 422, "steps must be")
        expectError(try await submit(base, "infer", fields: [("aggregate", "max")], files: [("voice", "v.wav", clip)]), 422, "aggregate must be")
        expectError(try await submit(base, "infer", fields: [("index", "../../etc")], files: [("voice", "v.wav", clip)]), 422, "index must be")
        expectError(try await submit(base, "infer", fields: [("example", "../../../etc/passwd")]), 422, "example must be")
        expectError(try await submit(base, "infer", files: [("voice", "big.wav", Data(count: 3 << 20))]), 413, "upload limit")
        // Photos: sniffed, sides checked from the header before decoding.
        var huge = png
        huge.replaceSubrange(16..<24, with: [0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10] as [UInt8])  // IHDR 10000×10000
        expectError(try await submit(base, "invert", files: [("photo", "huge.png", huge)]), 422, "10000×10000")
        expectError(try await submit(base, "invert", files: [("photo", "face.jpg", clip)]), 415, "PNG or JPEG")
        expectError(try await submit(base, "search", fields: [("example", try demoClip().lastPathComponent)], files: [("face", "f.png", png)]), 400, "exactly one")
        // Routes: unknown job ids, names outside a job's outputs, encoded traversal, unknown routes.
        let ok = try await submit(base, "search", fields: [("example", try demoClip().lastPathComponent), ("k", "2")])
        let id = try #require(ok.json["job"] as? String)
        _ = try await waitFor(base, job: id) { $0 == "done" }
        #expect(try await http("GET", base.appendingPathComponent("api/jobs/\(id)/hit-1.png")).status == 200)
        expectError(try await http("GET", base.appendingPathComponent("api/jobs/0123456789abcdef0123456789abcdef")), 404, "no job")
        expectError(try await http("GET", base.appendingPathComponent("api/jobs/not-a-job")), 404, "no job")
        expectError(try await http("GET", base.appendingPathComponent("api/jobs/\(id)/face.png")), 404, "no output")
        expectError(try await http("GET", base.appendingPathComponent("api/nothing")), 404, "no such route")
        let port = base.port!
        for path in ["/api/jobs/\(id)/..%2Finput%2Fvoice.wav", "/api/jobs/\(id)/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                     "/api/jobs/\(id)/../../../../etc/passwd", "/api/examples/..%2F..%2FPackage.swift", "/../../etc/passwd"] {
            let answer = try await offPool {
                let c = try RawConnection(port: port)
                c.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return c.read()
            }
            #expect(answer.hasPrefix("HTTP/1.1 404") && !answer.contains("root:") && !answer.contains("PackageDescription"), "\(path): \(answer.prefix(200))")
        }
        // Refused submissions leave no job folder behind: only the search job's.
        let folders = try FileManager.default.contentsOfDirectory(atPath: server.queue.jobsFolder.path)
        #expect(folders.allSatisfy { server.queue.job($0) != nil }, "\(folders)")
    }

    @Test("dropped connections mid-upload and mid-stream leave the server serving")
    func droppedConnections() async throws {
        let (_, base) = try await TestServer.shared.get()
        let port = base.port!
        // An upload announced as 1 MiB, cut after 64 KiB.
        try await offPool {
            let c = try RawConnection(port: port)
            c.send("POST /api/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1048576\r\n\r\n")
            c.send("--b\r\nContent-Disposition: form-data; name=\"voice\"; filename=\"v.wav\"\r\n\r\nRIFF")
            c.send(Data(count: 65536))
        }
        // An event stream of a running job, closed after its first event.
        let r = try await submit(base, "infer", fields: [("example", try demoClip().lastPathComponent), ("steps", "60")])
        let id = try #require(r.json["job"] as? String)
        let head = try await offPool {
            let c = try RawConnection(port: port)
            c.send("GET /api/jobs/\(id)/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return c.read(until: "event: ")
        }
        #expect(head.contains("text/event-stream"))
        let done = try await waitFor(base, job: id) { $0 == "done" || $0 == "failed" }
        #expect(done["state"] as? String == "done")
        #expect(try await http("GET", base.appendingPathComponent("api/health")).status == 200)
    }

    @Test("access token: loopback needs none; with one, every route checks it (header, or ?token= once then a cookie)")
    func accessToken() async throws {
        #expect(WebServer.isLoopback("127.0.0.1") && WebServer.isLoopback("::1") && !WebServer.isLoopback("0.0.0.0") && !WebServer.isLoopback("192.168.1.5"))
        #expect(constantTimeEqual("abc", "abc") && !constantTimeEqual("abc", "abd") && !constantTimeEqual("ab", "abc") && !constantTimeEqual("abcd", "abc"))
        let (shared, _) = try await TestServer.shared.get()
        func options(host: String, token: String?) -> ServerOptions {
            var o = ServerOptions(data: FileManager.default.temporaryDirectory.appendingPathComponent("vs-serve-token-\(UUID().uuidString)"))
            (o.host, o.port, o.token, o.index) = (host, 0, token, shared.indexPath)
            return o
        }
        // Any other address gets a generated 128-bit token.
        let open = try WebServer(options(host: "0.0.0.0", token: nil))
        #expect(open.token?.count == 32)
        #expect(try WebServer(options(host: "127.0.0.1", token: nil)).token == nil)
        #expect(throws: JobError.self) { try WebServer(options(host: "0.0.0.0", token: "short")) }
        let token = "correct-horse-battery-staple"
        let server = try WebServer(options(host: "127.0.0.1", token: token))
        let base = URL(string: "http://127.0.0.1:\(try await TestServer.start(server))")!
        for path in ["api/health", "", "app.js", "api/jobs/0123456789abcdef0123456789abcdef"] {
            let r = try await http("GET", base.appendingPathComponent(path))
            #expect(r.status == 401 && (r.json["error"] as? String)?.contains("access token") == true, "\(path)")
        }
        #expect(try await submit(base, "infer", fields: [("example", "x")]).status == 401)
        #expect(try await http("GET", base.appendingPathComponent("api/health"), headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await http("GET", base.appendingPathComponent("api/health"), headers: ["Authorization": "Bearer \(token)"]).status == 200)
        // ?token= sets an HttpOnly cookie and redirects to the bare address; the cookie then opens the page.
        let port = base.port!
        let answer = try await offPool {
            let c = try RawConnection(port: port)
            c.send("GET /?token=\(token) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return c.read()
        }
        #expect(answer.hasPrefix("HTTP/1.1 303") && answer.lowercased().contains("set-cookie: voicestyle_token=\(token); path=/; httponly; samesite=strict"))
        #expect(try await http("GET", base, headers: ["Cookie": "voicestyle_token=\(token)"]).status == 200)
        #expect(try await http("GET", base.appendingPathComponent("?token=wrong")).status == 401)
    }

    @Test("Host and Origin: another site's name or origin is refused (403, JSON); the server's own names and origin pass")
    func hostAndOrigin() async throws {
        let (_, base) = try await TestServer.shared.get()
        let port = base.port!, example = try demoClip().lastPathComponent
        func raw(_ method: String, _ path: String, _ headers: [String], form: Bool = false) async throws -> HTTPResult {
            try await offPool {
                let body = "--b\r\nContent-Disposition: form-data; name=\"example\"\r\n\r\n\(example)\r\n--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n0\r\n--b--\r\n"
                let c = try RawConnection(port: port)
                var head = "\(method) \(path) HTTP/1.1\r\n" + headers.map { $0 + "\r\n" }.joined() + "Connection: close\r\n"
                if form { head += "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: \(body.utf8.count)\r\n" }
                c.send(head + "\r\n" + (form ? body : ""))
                let text = c.read()
                let parts = text.components(separatedBy: "\r\n\r\n")
                let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? 0
                return HTTPResult(status: status, headers: [:], body: Data(parts.dropFirst().joined(separator: "\r\n\r\n").utf8))
            }
        }
        // DNS rebinding: evil.example resolving to 127.0.0.1 reaches the port with its own name.
        for host in ["evil.example", "evil.example:\(port)", "127.0.0.1.evil.example", "[::2]:\(port)"] {
            let r = try await raw("GET", "/api/health", ["Host: \(host)"])
            #expect(r.status == 403 && (r.json["error"] as? String)?.contains("answers only to") == true, "\(host): \(r.status) \(r.text)")
        }
        let page = try await raw("GET", "/", ["Host: evil.example"])
        #expect(page.status == 403 && !page.text.contains("<html"))
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST", "[::1]:\(port)"] {
            #expect(try await raw("GET", "/api/health", ["Host: \(host)"]).status == 200, "\(host)")
        }
        // A form posted by a page of another site (or a sandboxed one, Origin null): refused before it is read.
        for origin in ["http://evil.example", "null", "http://127.0.0.1:\(port + 1)", "https://127.0.0.1:\(port)"] {
            let r = try await raw("POST", "/api/search", ["Host: 127.0.0.1:\(port)", "Origin: \(origin)"], form: true)
            #expect(r.status == 403 && (r.json["error"] as? String)?.contains("other sites") == true, "\(origin): \(r.status) \(r.text)")
        }
        let own = try await raw("POST", "/api/search", ["Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)"], form: true)
        #expect(own.status == 422 && (own.json["error"] as? String)?.contains("k must be") == true, "\(own.text)")
        let noOrigin = try await raw("POST", "/api/search", ["Host: 127.0.0.1:\(port)"], form: true)
        #expect(noOrigin.status == 422, "\(noOrigin.text)")
        // Reading with a foreign Origin is harmless (the browser keeps the answer from the other site's page).
        #expect(try await raw("GET", "/api/health", ["Host: 127.0.0.1:\(port)", "Origin: http://evil.example"]).status == 200)
        // A 100 KB address: a JSON sentence, not an empty 400.
        let long = try await raw("GET", "/api/" + String(repeating: "a", count: 100_000), ["Host: 127.0.0.1:\(port)"])
        #expect(long.status == 400 && (long.json["error"] as? String)?.contains("longer than 80 KiB") == true, "\(long.text.prefix(200))")
        #expect(AccessRule(host: "0.0.0.0", token: "t0ken-t0ken").refusal(method: .post, host: "anything", origin: nil) == nil)
    }

    @Test("serve removes only the job folders it marked, never a user's files; an unmarked demo-index folder is refused")
    func ownFoldersOnly() async throws {
        let (shared, _) = try await TestServer.shared.get()
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("vs-serve-own-\(UUID().uuidString)")
        let jobs = data.appendingPathComponent("jobs")
        let old = jobs.appendingPathComponent("0123456789abcdef0123456789abcdef"), mine = jobs.appendingPathComponent("my-notes")
        try FileManager.default.createDirectory(at: old.appendingPathComponent("input"), withIntermediateDirectories: true)
        try Data().write(to: old.appendingPathComponent(WebServer.jobMarker))
        try FileManager.default.createDirectory(at: mine, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: jobs.appendingPathComponent("keep"))
        try Data("y".utf8).write(to: mine.appendingPathComponent("draft.txt"))
        var options = ServerOptions(data: data)
        (options.port, options.index) = (0, shared.indexPath)
        _ = try WebServer(options)
        #expect(try FileManager.default.contentsOfDirectory(atPath: jobs.path).sorted() == ["keep", "my-notes"])
        #expect(try String(contentsOf: mine.appendingPathComponent("draft.txt"), encoding: .utf8) == "y")
        // A demo-index folder the server did not make is not deleted to make room for its own.
        try FileManager.default.createDirectory(at: data.appendingPathComponent("demo-index"), withIntermediateDirectories: true)
        try Data("z".utf8).write(to: data.appendingPathComponent("demo-index/mine.txt"))
        options.demo = true
        #expect { _ = try WebServer(options) } throws: { "\($0)".contains("demo-index exists and is not a demo index this server made") }
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("demo-index/mine.txt").path))
        #expect { _ = try WebServer({ var o = options; o.host = "no such host.."; return o }()) } throws: { "\($0)".contains("neither an IP address") }
    }

    @Test("audio uploads: a 117 KB Ogg declaring 60 s of 64 channels is refused from its header; a bad MP3 is one sentence")
    func audioUploads() async throws {
        let (_, base) = try await TestServer.shared.get()
        let bomb = try Data(contentsOf: Fixtures.local("VoiceStyleTests", "bomb-60s-192k-64ch.ogg"))
        let started = Date()
        let r = try await submit(base, "infer", files: [("voice", "v.ogg", bomb)])
        #expect(r.status == 422 && (r.json["error"] as? String)?.contains("60.0 s long; the limit is 10 s") == true, "\(r.text)")
        #expect(Date().timeIntervalSince(started) < 10)
        var mp3 = Data("ID3\u{3}\0\0\0\0\0\0".utf8)
        mp3.append(Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        let bad = try await submit(base, "infer", files: [("voice", "v.mp3", mp3)])
        let message = bad.json["error"] as? String ?? ""
        #expect(bad.status == 422 && message.hasPrefix("the voice file cannot be read as audio") && !message.contains("pipe") && !message.contains("\n"), "\(bad.text)")
    }

    @Test("form parsing and content sniffing")
    func sniffing() throws {
        #expect(Sniff.audio(Data("fLaC\0\0\0\0".utf8)) == "flac" && Sniff.audio(Data("OggS\0\0".utf8)) == "ogg")
        #expect(Sniff.audio(Data("ID3\u{3}\0".utf8)) == "mp3" && Sniff.audio(Data([0xFF, 0xFB, 0x90, 0x64])) == "mp3")
        #expect(Sniff.audio(silentWAV(seconds: 0.1)) == "wav" && Sniff.audio(Data("RIFF\0\0\0\0AVI ".utf8)) == nil)
        let jpeg = try JPEGCodec.encode(RGBImage(width: 40, height: 24, pixels: [UInt8](repeating: 128, count: 40 * 24 * 3)))
        #expect(Sniff.image(jpeg) == "jpg" && Sniff.imageSize(jpeg)! == (40, 24))
        let form = multipart(fields: [("k", "5"), ("flag", "on")], files: [("voice", "a.wav", Data("RIFF--\r\n--not-the-boundary".utf8))])
        let parsed = try Form(body: form.body, boundary: try Form.boundary(contentType: form.contentType))
        #expect(try parsed.integer("k", 1...8, default: 1) == 5 && (try parsed.flag("flag", default: false)))
        #expect(parsed.file("voice")?.data == Data("RIFF--\r\n--not-the-boundary".utf8) && parsed.file("voice")?.filename == "a.wav")
        #expect(throws: APIError.self) { try Form(body: Data("--b\r\nno headers end".utf8), boundary: "b") }
        #expect(throws: APIError.self) { try Form.boundary(contentType: "multipart/form-data") }
    }

    @Test("load from another process: 8 jobs, 80 status/health requests and 6 audio bombs, 8 at a time; no job lost, memory bounded")
    func concurrentLoad() async throws {
        let (_, base) = try await TestServer.shared.get()
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("vs-load-\(UUID().uuidString).py")
        try loadScript.write(to: script, atomically: true, encoding: .utf8)
        // Warm up (models and latent caches are loaded by the earlier tests; one more job when run alone).
        let warm = try await submit(base, "infer", fields: [("example", try demoClip().lastPathComponent), ("steps", "4")])
        _ = try await waitFor(base, job: try #require(warm.json["job"] as? String)) { $0 == "done" }
        let before = residentKiB()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // The bombs: 10 s of 64 channels at 192 kHz each (123 million samples, 491 MB as floats), sent to search with
        // k 0 so that each is decoded, then refused.
        let bomb = Fixtures.local("VoiceStyleTests", "bomb-10s-192k-64ch.ogg").path
        process.arguments = ["python3", script.path, base.absoluteString, try demoClip().lastPathComponent, "8", "80", "8", bomb, "6"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let sampler = RSSSampler()
        let output = try await offPool {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        let peak = sampler.stop()
        let after = residentKiB()
        let summary = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any], "\(String(decoding: output, as: UTF8.self))")
        #expect(process.terminationStatus == 0)
        #expect(summary["jobs_done"] as? Int == 8 && summary["errors"] as? [String] == [], "\(summary)")
        #expect(summary["bombs_refused"] as? Int == 6, "\(summary)")
        // The stated bound: the server (this test process) grows by less than 300 MB while the bombs arrive.
        #expect(after - before < 300_000 && peak - before < 300_000, "RSS \(before) → peak \(peak) → \(after) KiB")
        print("web load: \(summary); server RSS \(before / 1024) → peak \(peak / 1024) → \(after / 1024) MiB")
    }
}

/// The load generator (another process): submits JOBS infer jobs and makes REQUESTS health/status requests,
/// CONCURRENCY at a time, then waits for every job; prints a JSON summary; exits 1 after 600 s.
let loadScript = #"""
import json, sys, time, threading, urllib.request, uuid
from concurrent.futures import ThreadPoolExecutor
base, example, jobs, requests, concurrency = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bomb, bombs = open(sys.argv[6], "rb").read(), int(sys.argv[7])
threading.Timer(600, lambda: (print(json.dumps({"errors": ["timeout"]})), sys.stdout.flush(), __import__("os")._exit(1))).start()
errors, ids, latencies = [], [], []
def call(method, path, body=None, ctype=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    if ctype: req.add_header("Content-Type", ctype)
    t = time.time()
    with urllib.request.urlopen(req, timeout=300) as r:
        data = r.read()
    latencies.append(time.time() - t)
    return json.loads(data)
def submit(_):
    b = "b" + uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"example\"\r\n\r\n%s\r\n--%s\r\nContent-Disposition: form-data; name=\"steps\"\r\n\r\n3\r\n--%s--\r\n" % (b, example, b, b)).encode()
    try: ids.append(call("POST", "/api/infer", body, "multipart/form-data; boundary=" + b)["job"])
    except Exception as e: errors.append("submit: %r" % e)
def hostile(_):
    b = "b" + uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"voice\"; filename=\"v.ogg\"\r\n\r\n" % b).encode() + bomb \
        + ("\r\n--%s\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n0\r\n--%s--\r\n" % (b, b)).encode()
    req = urllib.request.Request(base + "/api/search", data=body, method="POST")
    req.add_header("Content-Type", "multipart/form-data; boundary=" + b)
    try:
        urllib.request.urlopen(req, timeout=300)
        errors.append("a bomb was accepted")
    except urllib.error.HTTPError as e:
        if e.code in (422, 503): refused.append(e.code)
        else: errors.append("bomb: %d" % e.code)
    except Exception as e: errors.append("bomb: %r" % e)
refused = []
def poll(i):
    try: call("GET", "/api/health" if i % 2 or not ids else "/api/jobs/" + ids[i % len(ids)])
    except Exception as e: errors.append("poll: %r" % e)
with ThreadPoolExecutor(concurrency) as pool:
    hostiles = pool.map(hostile, range(bombs))
    list(pool.map(submit, range(jobs)))
    list(pool.map(poll, range(requests)))
    list(hostiles)
done, deadline = 0, time.time() + 400
for j in ids:
    while time.time() < deadline:
        s = call("GET", "/api/jobs/" + j)
        if s["state"] in ("done", "failed", "cancelled"): break
        time.sleep(0.05)
    if s["state"] == "done": done += 1
    else: errors.append("job %s ended %s" % (j, s["state"]))
latencies.sort()
print(json.dumps({"jobs_done": done, "requests": len(latencies), "errors": errors, "bombs_refused": len(refused),
                  "p50_ms": round(1000 * latencies[len(latencies) // 2], 1), "max_ms": round(1000 * latencies[-1], 1)}))
sys.stdout.flush()
__import__("os")._exit(0)
"""#
