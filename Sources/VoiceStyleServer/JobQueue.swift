// No upstream counterpart: the web server's jobs: one at a time on a dedicated thread, a FIFO queue with
// positions, progress events for the status route and the event stream, results in a data folder with caps.
import Foundation
import VoiceStyleInversion
import VoiceStylePipeline

/// What a web job does: one of the library's jobs (`WebServer.jobs`), its request with the server's own choices
/// filled in.
typealias JobWork = any JobRequest

/// One prototype (or search hit) shown in the page's gallery.
public struct GalleryItem: Codable, Sendable, Equatable {
    public var rank: Int
    public var identity: String
    public var cosine: Float
    public var weight: Float?
    /// Output file name of its picture (nil when unreadable).
    public var image: String?
    /// Output file name of the generator's picture of its latent (infer only; nil where none).
    public var inversion: String? = nil
}

/// The result of a finished job, as the API reports it.
public struct JobSummary: Codable, Sendable, Equatable {
    /// The files `GET /api/jobs/ID/NAME` serves for this job.
    public var outputs: [String]
    public var notice: String?
    /// infer: the prototypes used; search: the hits.
    public var gallery: [GalleryItem]?
    /// infer: the CMPC distance after each refinement step.
    public var curve: [Double]?
    /// invert: how close the reconstruction is.
    public var reconstruction: ReconstructionMetrics?
    /// Inputs skipped, with why.
    public var skipped: [String]?
    public var timings: [StageTiming]?
}

/// A job's state and progress: the body of `GET /api/jobs/ID` and of the stream's `status` events.
public struct JobStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case queued, running, done, failed, cancelled }
    public var job: String
    public var kind: String
    public var state: State
    /// 1 = next to run (queued jobs only).
    public var position: Int?
    public var stage: String?
    public var step: Int?
    public var total: Int?
    public var detail: String?
    /// Fraction of the current stage done, 0…1.
    public var progress: Double
    /// Seconds left in the current stage, from its pace so far.
    public var etaSeconds: Double?
    public var elapsedSeconds: Double?
    public var error: String?
    /// The latest preview of the face (infer), and its step.
    public var preview: String?
    public var previewStep: Int?
    public var result: JobSummary?

    var isFinished: Bool { state == .done || state == .failed || state == .cancelled }
}

/// One server-sent event: its number, type and one-line JSON.
struct StreamEvent: Sendable {
    var id: Int
    var type: String
    var json: String
}

/// Compact JSON (snake_case keys) for the API.
func apiJSON<T: Encodable>(_ value: T) -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    e.keyEncodingStrategy = .convertToSnakeCase
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return (try? e.encode(value)) ?? Data("{}".utf8)
}

/// A job of the server: its work, folder, state and event log. Thread-safe.
final class ServerJob: @unchecked Sendable {
    let id: String
    let work: JobWork
    /// The job's folder: input/ (the upload) and out/ (the served outputs).
    let folder: URL
    let created = Date()
    let cancellation = JobCancellation()

    private let lock = NSLock()
    private var status: JobStatus
    private var stageStarted = Date()
    private var started: Date?
    private var finished: Date?
    private var events: [StreamEvent] = []
    private var subscribers: [UUID: AsyncStream<Void>.Continuation] = [:]
    /// Most events kept for the stream (a long job thins its step events beyond this).
    static let maxEvents = 20_000

    init(id: String, work: JobWork, folder: URL) {
        self.id = id
        self.work = work
        self.folder = folder
        status = JobStatus(job: id, kind: type(of: work).job, state: .queued, progress: 0)
    }

    var input: URL { folder.appendingPathComponent("input") }
    var output: URL { folder.appendingPathComponent("out") }

    /// The status now (elapsed time and ETA computed at the call).
    var snapshot: JobStatus { lock.withLock { current() } }

    private func current() -> JobStatus {
        var s = status
        let now = Date()
        s.elapsedSeconds = started.map { (finished ?? now).timeIntervalSince($0) }
        if s.state == .running, let done = s.step, let total = s.total, done > 0, total > done {
            s.etaSeconds = now.timeIntervalSince(stageStarted) / Double(done) * Double(total - done)
        }
        return s
    }

    var finishedAt: Date? { lock.withLock { finished } }
    var isFinished: Bool { lock.withLock { status.isFinished } }
    var outputs: [String] { lock.withLock { status.result?.outputs ?? [] } }

    /// Sets the queue position (nil once running) and announces it.
    func queued(position: Int) { update(type: "status") { $0.position = position } }

    func startRunning() {
        update(type: "status") {
            $0.state = .running
            $0.position = nil
            self.started = Date()
        }
    }

    /// A library progress event.
    func progress(_ e: JobEvent) {
        update(type: "progress", thin: true) {
            if $0.stage != e.stage { self.stageStarted = Date() }
            $0.stage = e.stage
            $0.step = e.done
            $0.total = e.total
            $0.detail = e.detail
            $0.progress = e.total > 0 ? min(1, Double(e.done) / Double(e.total)) : 0
        }
    }

    func previewed(step: Int) {
        update(type: "preview") {
            $0.preview = "preview.png?step=\(step)"
            $0.previewStep = step
        }
    }

    func finish(_ state: JobStatus.State, result: JobSummary? = nil, error: String? = nil) {
        update(type: "status") {
            $0.state = state
            $0.position = nil
            $0.result = result
            $0.error = error
            if state == .done { $0.progress = 1 }
            self.finished = Date()
            if self.started == nil { self.started = self.finished }
        }
        lock.withLock {
            for c in subscribers.values { c.finish() }
            subscribers.removeAll()
        }
    }

    /// Changes the status under the lock, logs an event of `type` with the new status, wakes the streams.
    /// With `thin`, step events beyond `maxEvents` replace the previous step event instead of adding one.
    private func update(type: String, thin: Bool = false, _ change: (inout JobStatus) -> Void) {
        let waiting: [AsyncStream<Void>.Continuation] = lock.withLock {
            change(&status)
            var s = current()
            if type == "progress" || type == "preview" { s.result = nil }
            let event = StreamEvent(id: (events.last?.id ?? 0) + 1, type: type, json: String(decoding: apiJSON(s), as: UTF8.self))
            if thin, events.count >= Self.maxEvents, events.last?.type == "progress" { events[events.count - 1] = event } else { events.append(event) }
            return Array(subscribers.values)
        }
        for c in waiting { c.yield() }
    }

    /// The events after `id`, and whether the job has finished (no more will come).
    func events(after id: Int) -> (events: [StreamEvent], finished: Bool) {
        lock.withLock { (events.filter { $0.id > id }, status.isFinished) }
    }

    /// A stream that yields whenever a new event is logged; it ends when the job finishes.
    func subscribe() -> (UUID, AsyncStream<Void>) {
        let key = UUID()
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        lock.withLock {
            if status.isFinished { continuation.finish() } else { subscribers[key] = continuation }
        }
        return (key, stream)
    }

    func unsubscribe(_ key: UUID) { _ = lock.withLock { subscribers.removeValue(forKey: key) } }
}

/// Runs the jobs one at a time on a dedicated thread, in submission order; keeps finished jobs' results
/// within the limits.
final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [String: ServerJob] = [:]
    private var pending: [ServerJob] = []
    private var running: ServerJob?
    private let runner: JobRunner
    let limits: ServerLimits
    let jobsFolder: URL

    init(runner: JobRunner, limits: ServerLimits, jobsFolder: URL) {
        self.runner = runner
        self.limits = limits
        self.jobsFolder = jobsFolder
    }

    /// Starts the worker thread (large stack: the networks recurse through deep graphs).
    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "voicestyle-jobs"
        thread.stackSize = 256 << 20
        thread.start()
    }

    /// A new job id: 128 random bits in hex.
    static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
    }

    /// Queues `job` (after dropping expired results); refuses when `maxQueued` jobs are already waiting.
    func submit(_ job: ServerJob) throws {
        cleanUp()
        try condition.withLock {
            guard pending.count < limits.maxQueued else {
                throw APIError(503, "the queue is full (\(pending.count) jobs waiting); try again later")
            }
            jobs[job.id] = job
            pending.append(job)
            job.queued(position: pending.count)
            condition.signal()
        }
    }

    func job(_ id: String) -> ServerJob? { condition.withLock { jobs[id] } }

    /// Jobs waiting and whether one runs (for /api/health).
    var counts: (queued: Int, running: Bool, kept: Int) { condition.withLock { (pending.count, running != nil, jobs.count) } }

    /// Cancels a queued job at once, a running one at its next step; a finished one is left as it is.
    func cancel(_ job: ServerJob) {
        let removed: Bool = condition.withLock {
            guard let i = pending.firstIndex(where: { $0 === job }) else { return false }
            pending.remove(at: i)
            for (n, p) in pending.enumerated().dropFirst(i) { p.queued(position: n + 1) }
            return true
        }
        if removed {
            job.finish(.cancelled, error: "cancelled before it started")
        } else {
            job.cancellation.cancel()
        }
    }

    private func loop() {
        while true {
            let job: ServerJob = condition.withLock {
                while pending.isEmpty { condition.wait() }
                let job = pending.removeFirst()
                running = job
                for (n, p) in pending.enumerated() { p.queued(position: n + 1) }
                return job
            }
            job.startRunning()
            do {
                let summary = try JobCancellation.$current.withValue(job.cancellation) { try runner.run(job) }
                job.finish(.done, result: summary)
            } catch is JobCancelled {
                job.finish(.cancelled, error: "cancelled")
            } catch {
                job.finish(.failed, error: runner.clientMessage(error, job: job))
            }
            condition.withLock { running = nil }
            cleanUp()
        }
    }

    /// Forgets finished jobs (and deletes their folders) older than `keepSeconds`, then the oldest finished
    /// ones while more than `keepJobs` are kept or their folders hold more than `keepBytes`.
    func cleanUp(now: Date = Date()) {
        var doomed: [ServerJob] = []
        condition.withLock {
            var finished = jobs.values.filter(\.isFinished).sorted { ($0.finishedAt ?? $0.created) < ($1.finishedAt ?? $1.created) }
            var bytes = finished.map { Self.size(of: $0.folder) }.reduce(0, +)
            while let oldest = finished.first,
                  now.timeIntervalSince(oldest.finishedAt ?? oldest.created) > limits.keepSeconds || jobs.count - doomed.count > limits.keepJobs
                    || bytes > limits.keepBytes {
                doomed.append(oldest)
                bytes -= Self.size(of: oldest.folder)
                finished.removeFirst()
            }
            for j in doomed { jobs[j.id] = nil }
        }
        for j in doomed { try? FileManager.default.removeItem(at: j.folder) }
    }

    /// Bytes of the files under `folder`.
    static func size(of folder: URL) -> Int {
        guard let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var total = 0
        for case let url as URL in e { total += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) ?? 0 }
        return total
    }
}
