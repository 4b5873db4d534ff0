// No upstream counterpart: `voicestyle serve`, a local web page and its JSON API over the pipeline's jobs
// (Hummingbird 2): uploads checked where they enter, jobs queued, progress streamed as server-sent events.
import Foundation
import Hummingbird
import VoiceStyleAudio
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleHub
import VoiceStyleIndex
import VoiceStylePipeline

/// How `voicestyle serve` runs.
public struct ServerOptions: Sendable {
    /// Address to bind: loopback by default; any other address requires the access token.
    public var host = "127.0.0.1"
    /// Port (0: any free one, reported to `run`'s `onRunning`).
    public var port = 8080
    /// Access token; generated when nil and the host is not loopback.
    public var token: String?
    /// Data folder: jobs/ID/{input,out} and, with `demo`, demo-index/.
    public var data: URL
    /// The prototype index (a folder); ignored with `demo`.
    public var index: String?
    /// Use the bundled demo material and untrained models (works on a fresh clone).
    public var demo = false
    /// Model files (ignored with `demo`).
    public var models = ModelPaths()
    public var limits = ServerLimits()

    public init(data: URL) { self.data = data }

    /// The default data folder: $XDG_CACHE_HOME/voicestyle/serve, else ~/.cache/voicestyle/serve.
    public static var defaultData: URL {
        let env = ProcessInfo.processInfo.environment
        let cache = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return cache.appendingPathComponent("voicestyle/serve")
    }
}

/// The web server: its queue, index, page files and routes.
public final class WebServer: Sendable {
    public let options: ServerOptions
    /// The access token clients must present (nil on loopback unless one was given).
    public let token: String?
    /// The index the jobs use.
    public let indexPath: String
    let queue: JobQueue
    let examples: [URL]
    let page: [String: (type: String, data: Data)]
    let alignAvailable: Bool
    let models: ModelPaths
    /// Uploads decoded at a time (`ServerLimits.maxDecodes`).
    let decodes: DecodeSlots

    /// Checks the options, prepares the data folder (the job folders of earlier runs removed: only folders the
    /// server marked as its own; with `demo`, the demo index built once into demo-index/), loads the page and starts
    /// the job thread.
    public init(_ options: ServerOptions, progress: JobProgress = { _ in }) throws {
        self.options = options
        token = options.token ?? (Self.isLoopback(options.host) ? nil : JobQueue.newID())
        if let t = options.token, t.count < 8 || !t.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ";" && $0 != "," }) {
            throw JobError(field: "token", "must be at least 8 printable ASCII characters without spaces, ';' or ','")
        }
        try Self.checkHost(options.host)
        let data = try prepareOutputFolder(options.data.path, field: "data")
        let jobs = data.appendingPathComponent("jobs")
        try FileManager.default.createDirectory(at: jobs, withIntermediateDirectories: true)
        Self.removeMarked(in: jobs, marker: Self.jobMarker)
        alignAvailable = FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel)
        let loader = ModelLoader()
        if options.demo {
            try Demo.register(in: loader)
            var demoModels = Demo.models
            demoModels.generator = Demo.generator(options.models.generator, locator: loader.locator)
            models = demoModels
            indexPath = try Self.demoIndex(in: data, loader: loader, align: alignAvailable, progress: progress)
        } else {
            guard let index = options.index else { throw JobError("give {index} NAME (a prototype index) or {demo}") }
            let directory = URL(fileURLWithPath: index)
            guard !(try PrototypeIndex(directory: directory).records.isEmpty) else { throw IndexError.empty(directory.path) }
            models = options.models
            indexPath = directory.path
        }
        examples = (try? Demo.voices) ?? []
        var page: [String: (String, Data)] = [:]
        guard let web = Bundle.module.url(forResource: "Web", withExtension: nil) else {
            throw JobError("the web page files (Web) are missing from this build; rebuild with swift build -c release")
        }
        for (name, type) in [("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
                             ("hook.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8")] {
            page[name] = (type, try Data(contentsOf: web.appendingPathComponent(name)))
        }
        self.page = page
        queue = JobQueue(runner: JobRunner(loader: loader, models: models, demo: options.demo), limits: options.limits, jobsFolder: jobs)
        decodes = DecodeSlots(limit: options.limits.maxDecodes, waiting: options.limits.maxDecodesWaiting)
        queue.start()
    }

    /// The file that marks a folder as the server's own (a job folder, the demo index): only marked folders are
    /// ever removed, so nothing of the user's under --data is deleted.
    static let jobMarker = ".voicestyle-job", demoIndexMarker = ".voicestyle-demo-index"

    /// Removes the folders directly in `folder` that hold `marker`; leaves everything else.
    static func removeMarked(in folder: URL, marker: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            let item = folder.appendingPathComponent(name)
            if isMarked(item, marker) { try? FileManager.default.removeItem(at: item) }
        }
    }

    /// Whether `folder` is a real folder (not a link) holding `marker`.
    static func isMarked(_ folder: URL, _ marker: String) -> Bool {
        let kind = try? FileManager.default.attributesOfItem(atPath: folder.path)[.type] as? FileAttributeType
        return kind == .typeDirectory && FileManager.default.fileExists(atPath: folder.appendingPathComponent(marker).path)
    }

    /// Refuses a --host that is neither an address nor a name this machine resolves, before anything starts.
    public static func checkHost(_ host: String) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host, nil, &hints, &found)
        if let found { freeaddrinfo(found) }
        guard rc == 0, !host.isEmpty else {
            throw JobError(field: "host", "\(host.prefix(100)) is neither an IP address nor a name this machine resolves (\(String(cString: gai_strerror(rc))))")
        }
    }

    /// Whether `host` is a loopback address (no token needed there).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The demo index in DATA/demo-index: reused when it opens with its faces, else built from the bundled faces.
    static func demoIndex(in data: URL, loader: ModelLoader, align: Bool, progress: JobProgress) throws -> String {
        let dir = data.appendingPathComponent("demo-index")
        if let index = try? PrototypeIndex(directory: dir), !index.records.isEmpty,
           (try? index.store.setting("cmpc_path")) == Demo.models.cmpc { return dir.path }
        if FileManager.default.fileExists(atPath: dir.path) {
            guard isMarked(dir, demoIndexMarker) else {
                throw JobError(field: "data", "\(dir.path) exists and is not a demo index this server made: move it away or choose another {data} folder")
            }
            try FileManager.default.removeItem(at: dir)
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data().writeOutput(to: dir.appendingPathComponent(demoIndexMarker))
        var build = BuildIndexRequest(index: dir.path, faces: try Demo.data.appendingPathComponent("faces").path)
        build.cmpc = Demo.models.cmpc
        if align { build.align = AlignOptions() }
        _ = try Jobs.buildIndex(build, models: loader, progress: progress)
        return dir.path
    }

    /// The index's name as the page shows it.
    public var indexName: String { options.demo ? "demo" : URL(fileURLWithPath: indexPath).lastPathComponent }

    /// Serves until the process ends; `onRunning` gets the bound port once the server listens.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.add(middleware: Guard(token: token, access: AccessRule(host: options.host, token: token)))
        addRoutes(router)
        let port = options.port
        let app = Application(router: router, server: .http1(configuration: .init(additionalChannelHandlers: [MalformedRequestAnswer()])),
                              configuration: .init(address: .hostname(options.host, port: port)),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) })
        try await app.run()
    }

    // MARK: Routes

    private func addRoutes(_ router: Router<BasicRequestContext>) {
        for name in page.keys {
            router.get(RouterPath(name == "index.html" ? "/" : "/\(name)")) { [self] _, _ in
                let file = page[name]!
                return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: file.data)))
            }
        }
        router.get("/api/health") { [self] _, _ in
            let c = queue.counts
            return Self.json(Health(status: "ok", version: voiceStyleVersion, demo: options.demo, indexes: [indexName], queued: c.queued,
                                    running: c.running, align: alignAvailable, examples: examples.map(\.lastPathComponent),
                                    limits: HealthLimits(options.limits)))
        }
        router.get("/api/examples/:name") { [self] _, context in
            let name = context.parameters.get("name") ?? ""
            guard let url = examples.first(where: { $0.lastPathComponent == name }) else { throw APIError.notFound("no example named \(name)") }
            return Response(status: .ok, headers: [.contentType: "audio/wav"], body: .init(byteBuffer: ByteBuffer(bytes: try Data(contentsOf: url))))
        }
        // One route per job the page offers (`WebServer.jobs`): POST /api/NAME with the job's form.
        for job in Self.jobs {
            router.post("/api/\(job.job)") { [self] request, _ in try await submit(request) { try await self.work(job, $0, $1) } }
        }
        router.get("/api/jobs/:id") { [self] _, context in Self.json(try job(context).snapshot) }
        router.delete("/api/jobs/:id") { [self] _, context in
            let job = try job(context)
            queue.cancel(job)
            return Self.json(job.snapshot)
        }
        router.get("/api/jobs/:id/:file") { [self] request, context in
            let job = try job(context)
            let file = context.parameters.get("file") ?? ""
            if file == "events" { return events(job, request: request) }
            return try output(job, file)
        }
    }

    /// The job named by the route's `:id` (32 hex digits), else 404.
    private func job(_ context: BasicRequestContext) throws -> ServerJob {
        let id = context.parameters.get("id") ?? ""
        guard id.utf8.count == 32, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }), let job = queue.job(id) else {
            throw APIError.notFound("no job \(id.prefix(40)) (jobs are kept for a while after they finish)")
        }
        return job
    }

    /// An output of a job: only names the job itself listed (or its latest preview while it runs).
    private func output(_ job: ServerJob, _ file: String) throws -> Response {
        let listed = job.outputs.contains(file) || (file == "preview.png" && job.snapshot.preview != nil)
        guard listed, let data = try? Data(contentsOf: job.output.appendingPathComponent(file)) else {
            throw APIError.notFound("job \(job.id) has no output named \(file.prefix(80))")
        }
        var headers: HTTPFields = [.cacheControl: "no-cache"]
        switch (file as NSString).pathExtension {
        case "png": headers[.contentType] = "image/png"
        case "json": headers[.contentType] = "application/json; charset=utf-8"
        default:
            headers[.contentType] = "application/octet-stream"
            headers[.contentDisposition] = "attachment; filename=\"\(file)\""
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The job's events as a server-sent event stream: every event logged so far (after Last-Event-ID), then
    /// each new one, until the job finishes.
    private func events(_ job: ServerJob, request: Request) -> Response {
        let after = request.headers[.init("Last-Event-ID")!].flatMap { Int($0) } ?? 0
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: ResponseBody { writer in
            let (key, stream) = job.subscribe()
            defer { job.unsubscribe(key) }
            var last = after
            var wake = stream.makeAsyncIterator()
            while true {
                let (events, finished) = job.events(after: last)
                if !events.isEmpty {
                    let text = events.map { "id: \($0.id)\nevent: \($0.type)\ndata: \($0.json)\n\n" }.joined()
                    try await writer.write(ByteBuffer(string: text))
                    last = events.last!.id
                }
                if finished { break }
                _ = await wake.next()
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Submitting jobs

    /// Reads the form (size-limited), makes the job's folder, builds its work with `make`, queues it: 202 with
    /// `{"job": ID}`. A refused request leaves no folder behind; the folder is marked as the server's own.
    private func submit(_ request: Request, make: (Form, URL) async throws -> JobWork) async throws -> Response {
        let form = try await readForm(request)
        let id = JobQueue.newID()
        let folder = queue.jobsFolder.appendingPathComponent(id)
        do {
            let input = folder.appendingPathComponent("input")
            try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
            try Data().writeOutput(to: folder.appendingPathComponent(Self.jobMarker))
            let job = ServerJob(id: id, work: try await make(form, input), folder: folder)
            try queue.submit(job)
            return Self.json(Submitted(job: id, position: job.snapshot.position), status: .accepted)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            if error is JobError { throw APIError.unprocessable(webMessage(error)) }
            throw error
        }
    }

    private func readForm(_ request: Request) async throws -> Form {
        let boundary = try Form.boundary(contentType: request.headers[.contentType])
        let limit = options.limits.maxUploadBytes
        let tooLarge = APIError.tooLarge("the request is larger than the \(limit >> 20) MiB upload limit")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var body = Data()
        for try await chunk in request.body {
            guard body.count + chunk.readableBytes <= limit else { throw tooLarge }
            body.append(contentsOf: chunk.readableBytesView)
        }
        return try Form(body: body, boundary: boundary)
    }

    /// The voice of a form: an `example` name, or an uploaded `voice` file (sniffed, saved, its length checked from
    /// its header, then decoded in one of the server's few decoding slots: `ServerLimits.maxDecodes`).
    private func voice(_ form: Form, _ input: URL, required: Bool = true) async throws -> String? {
        if let name = try form.field("example") {
            guard let url = examples.first(where: { $0.lastPathComponent == name }) else {
                throw APIError.unprocessable("example must be one of \(examples.map(\.lastPathComponent).joined(separator: ", ")) (got \(name))")
            }
            return url.path
        }
        guard let part = form.file("voice") else {
            if required { throw APIError.badRequest("the form needs a voice file (field voice) or a demo clip name (field example)") }
            return nil
        }
        guard let format = Sniff.audio(part.data) else {
            throw APIError.unsupported("the voice must be a WAV, FLAC, OGG or MP3 file (its first bytes are none of these)")
        }
        let url = input.appendingPathComponent("voice.\(format)")
        try part.data.write(to: url)
        func unreadable(_ error: Error) -> APIError {
            APIError.unprocessable("the voice file cannot be read as audio: \(plainMessage(error).replacingOccurrences(of: url.path, with: "upload"))")
        }
        let limit = options.limits.maxVoiceSeconds
        let header: Waveform.Header
        do { header = try Waveform.header(url) } catch { throw unreadable(error) }
        guard header.seconds <= limit else {
            throw APIError.unprocessable(String(format: "the voice is %.1f s long; the limit is %.0f s", header.seconds, limit))
        }
        do { _ = try await decodes.run { try Waveform.read(url, maxSeconds: limit) } } catch let e as APIError { throw e } catch { throw unreadable(error) }
        return url.path
    }

    /// The photo of a form (`photo` or `face`): PNG or JPEG by content, sides within the limit.
    private func photo(_ form: Form, _ input: URL, field: String) throws -> String? {
        guard let part = form.file(field) else { return nil }
        guard let format = Sniff.image(part.data) else { throw APIError.unsupported("the \(field) must be a PNG or JPEG image (its first bytes are neither)") }
        guard let size = Sniff.imageSize(part.data), size.width > 0, size.height > 0 else {
            throw APIError.unprocessable("the \(field) image has no readable size in its header")
        }
        let side = options.limits.maxImageSide
        guard size.width <= side, size.height <= side else {
            throw APIError.unprocessable("the \(field) image is \(size.width)×\(size.height) pixels; the limit is \(side)×\(side)")
        }
        let url = input.appendingPathComponent("\(field).\(format)")
        try part.data.write(to: url)
        return url.path
    }

    /// The form's precision (auto, fp32 or bf16; default auto); bf16 on a CPU without it is refused by the request's validation.
    private func precision(_ form: Form) throws -> Precision {
        Precision(rawValue: try form.choice("precision", [Precision.auto, .fp32, .bf16].map(\.rawValue), default: "auto")) ?? .auto
    }

    private func checkIndex(_ form: Form) throws {
        _ = try form.choice("index", [indexName], default: indexName)
    }

    /// The library's jobs the page offers, each at POST /api/NAME (NAME = `JobRequest.job`).
    public static let jobs: [any JobRequest.Type] = [InferRequest.self, InvertRequest.self, SearchRequest.self]

    /// The request of `job` from a form.
    private func work(_ job: any JobRequest.Type, _ form: Form, _ input: URL) async throws -> JobWork {
        switch job {
        case is InferRequest.Type: try await inferWork(form, input)
        case is InvertRequest.Type: try invertWork(form, input)
        case is SearchRequest.Type: try await searchWork(form, input)
        default: throw APIError.badRequest("no form for \(job.job) jobs")
        }
    }

    private func inferWork(_ form: Form, _ input: URL) async throws -> JobWork {
        try checkIndex(form)
        let limits = options.limits
        guard let voice = try await voice(form, input) else { throw APIError.badRequest("the form needs a voice file (field voice) or a demo clip name (field example)") }
        var r = InferRequest(voice: voice, index: indexPath)
        r.models = models
        r.config.k = try form.integer("k", 1...limits.maxK, default: options.demo ? 4 : 8)
        r.config.refinement.steps = try form.integer("steps", 0...limits.maxSteps, default: options.demo ? 30 : 100)
        r.config.seed = UInt64(try form.integer("seed", 0...1_000_000_000, default: 0))
        r.config.aggregate = InferenceConfig.Aggregation(rawValue: try form.choice("aggregate", InferenceConfig.Aggregation.allCases.map(\.rawValue),
                                                                                   default: "mean"))!
        r.config.precision = try precision(form)
        if options.demo { Demo.configure(&r, generator: models.generator ?? Demo.standInGenerator) }
        try r.config.validate()
        return r
    }

    private func invertWork(_ form: Form, _ input: URL) throws -> JobWork {
        guard let photo = try photo(form, input, field: "photo") else { throw APIError.badRequest("the form needs a photo file (field photo)") }
        var r = InvertRequest(images: [photo])
        r.models = models
        r.projector.steps = try form.integer("steps", 1...options.limits.maxSteps, default: options.demo ? 50 : 200)
        r.seed = UInt64(try form.integer("seed", 0...1_000_000_000, default: 0))
        r.precision = try precision(form)
        if options.demo { Demo.projector(&r.projector, generator: models.generator ?? Demo.standInGenerator) }
        if try form.flag("align", default: alignAvailable) {
            guard alignAvailable else { throw APIError.unprocessable("alignment is not available on this server (no dlib landmark model)") }
            r.align = AlignOptions()
        }
        try r.validate()
        return r
    }

    private func searchWork(_ form: Form, _ input: URL) async throws -> JobWork {
        try checkIndex(form)
        var r = SearchRequest(index: indexPath)
        r.voice = try await voice(form, input, required: false)
        r.face = try photo(form, input, field: "face")
        guard (r.voice == nil) != (r.face == nil) else {
            throw APIError.badRequest("give exactly one of a voice (field voice or example) or a face photo (field face)")
        }
        r.k = try form.integer("k", 1...options.limits.maxK, default: 8)
        if options.demo { r.cmpc = Demo.models.cmpc }
        try r.validate()
        return r
    }

    // MARK: Responses

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: apiJSON(value))))
    }
}

struct Submitted: Codable { var job: String; var position: Int? }

struct Health: Codable {
    var status: String
    var version: String
    var demo: Bool
    var indexes: [String]
    var queued: Int
    var running: Bool
    var align: Bool
    var examples: [String]
    var limits: HealthLimits
}

struct HealthLimits: Codable {
    var maxUploadBytes: Int, maxVoiceSeconds: Double, maxImageSide: Int, maxSteps: Int, maxK: Int, maxQueued: Int
    init(_ l: ServerLimits) {
        maxUploadBytes = l.maxUploadBytes; maxVoiceSeconds = l.maxVoiceSeconds; maxImageSide = l.maxImageSide
        maxSteps = l.maxSteps; maxK = l.maxK; maxQueued = l.maxQueued
    }
}

/// Checks the access token on every route (when the server has one), turns every error into a JSON body
/// `{"error": "…"}` with its status, and adds the page's security headers.
struct Guard: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?
    let access: AccessRule
    static let cookie = "voicestyle_token"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            if let refusal = access.refusal(method: request.method, host: request.head.authority, origin: request.headers[.origin]) {
                throw APIError(403, refusal)
            }
            if let token {
                // The page opened with ?token=…: remember it in a cookie and drop it from the address.
                if let given = request.uri.queryParameters.get("token"), request.uri.path == "/" {
                    guard constantTimeEqual(given, token) else { throw APIError(401, "wrong access token") }
                    return Response(status: .seeOther, headers: [.location: "/", .setCookie: "\(Self.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict",
                                                                .cacheControl: "no-store"])
                }
                let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
                guard let presented = bearer ?? request.cookies[Self.cookie]?.value, constantTimeEqual(presented, token) else {
                    throw APIError(401, "this server needs its access token: open the address it printed (…/?token=…) or send Authorization: Bearer TOKEN")
                }
            }
            response = try await next(request, context)
        } catch let e as APIError {
            response = WebServer.json(ErrorBody(error: e.description), status: HTTPResponse.Status(code: e.status))
        } catch let e as any HTTPResponseError {
            let message = e.status == .notFound ? "no such route: \(request.method) \(request.uri.path.prefix(100))" : e.status.reasonPhrase
            response = WebServer.json(ErrorBody(error: message), status: e.status)
        } catch {
            response = WebServer.json(ErrorBody(error: plainMessage(error)), status: .internalServerError)
        }
        response.headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; frame-ancestors 'none'"
        response.headers[.init("X-Content-Type-Options")!] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        return response
    }
}

struct ErrorBody: Codable { var error: String }

/// Equality of two strings in time that depends only on their lengths (not on where they first differ).
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<y.count { diff |= (i < x.count ? x[i] : 0) ^ y[i] }
    return diff == 0
}
