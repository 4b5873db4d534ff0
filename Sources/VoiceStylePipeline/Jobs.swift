// The job API shared by every front-end (CLI, web server, benchmarks, cluster scripts): one protocol for every job,
// the registry the front-ends dispatch from, progress events, plain errors that name request fields, and the checks
// every job makes on its inputs before any long work starts. (No upstream counterpart: upstream is scripts.)
import Foundation
import VoiceStyleEngine
import VoiceStyleHub
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// The implementations of the jobs (`Jobs.infer`, `Jobs.buildIndex`, …); front-ends reach them through the
/// requests' `JobRequest.run(in:)` and `JobRegistry`.
public enum Jobs {}

/// What a running job is given besides its request: where model files are found (and the models already loaded),
/// and where its progress goes. Cancellation is `JobCancellation` (task-local), previews go through the requests
/// that make them.
public struct JobContext {
    public var models: ModelLoader
    public var progress: JobProgress
    public init(models: ModelLoader = ModelLoader(), progress: @escaping JobProgress = { _ in }) {
        self.models = models
        self.progress = progress
    }
}

/// A job: a typed `Codable` request that runs with a context and returns a result holding a `Codable` report.
/// Every request type of the library is one; `JobRegistry.all` lists them.
public protocol JobRequest: Codable, Sendable {
    associatedtype Result: JobResult
    /// The job's name, the same in every front-end: the CLI's subcommand path ("index build"), the server's job
    /// kind, the `command` of the report envelope.
    static var job: String { get }
    /// One line on what it does.
    static var summary: String { get }
    /// Validates the request (errors name its fields), then does the work.
    func run(in context: JobContext) throws -> Result
}

/// What a job returns: its `Codable` report, plus whatever else it made (images, tensors) in the result type.
public protocol JobResult {
    associatedtype Report: Codable & Sendable
    var report: Report { get }
}

/// A report as written to `report.json`: which version and job made it, then the report's own fields (flat).
public struct JobEnvelope<Report: Codable & Sendable>: Codable, Sendable {
    public var voicestyle: String
    public var command: String
    public var report: Report
    public init(command: String, report: Report) { (self.voicestyle, self.command, self.report) = (voiceStyleVersion, command, report) }

    private enum Keys: String, CodingKey { case voicestyle, command }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(voicestyle, forKey: .voicestyle)
        try c.encode(command, forKey: .command)
        try report.encode(to: encoder)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        voicestyle = try c.decode(String.self, forKey: .voicestyle)
        command = try c.decode(String.self, forKey: .command)
        report = try Report(from: decoder)
    }
}

extension JobRequest {
    /// `report` in its envelope, as `report.json` holds it.
    public static func envelope<R: Codable & Sendable>(_ report: R) -> JobEnvelope<R> { JobEnvelope(command: job, report: report) }
}

/// One progress event of a long job: `done` of `total` in `stage`, with a short detail ("lpips 0.31").
public struct JobEvent: Codable, Sendable, Equatable {
    public var stage: String
    public var done: Int
    public var total: Int
    public var detail: String
    public init(stage: String, done: Int, total: Int, detail: String = "") {
        self.stage = stage; self.done = done; self.total = total; self.detail = detail
    }
}

/// Receives a job's progress events (called on the job's thread).
public typealias JobProgress = (JobEvent) -> Void

/// A request a job refuses before starting, in one plain sentence naming the input and what is allowed. `field` is
/// the request field at fault (its Swift name, e.g. `invertSteps`); the sentence starts with it, and each front-end
/// shows it in its own words (`--invert-steps` on the command line, the form field on the web page) through
/// `rendered(field:)`.
public struct JobError: Error, CustomStringConvertible, Equatable {
    /// The request field the sentence is about, or nil.
    public var field: String?
    /// The sentence, with request fields written `{field}` (e.g. "give exactly one of {faces} and {csv}").
    public var message: String
    /// A sentence; request fields in it are written `{field}`.
    public init(_ message: String) { field = nil; self.message = message }
    /// "FIELD MESSAGE", with FIELD shown as each front-end names it.
    public init(field: String, _ message: String) { self.field = field; self.message = "{\(field)} " + message }

    /// The sentence with each `{field}` named by `name` (nil: the field's own name).
    public func rendered(field name: (String) -> String?) -> String {
        var out = "", rest = message[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            let token = String(rest[rest.index(after: open)..<close])
            out += rest[..<open]
            if !token.isEmpty, token.allSatisfy({ $0.isLetter || $0.isNumber }) {
                out += name(token) ?? token
            } else {
                out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
    public var description: String { rendered { $0 } }

    /// A field's command-line flag: `invertSteps` → `--invert-steps`, `k` → `-k`.
    public static func flag(_ field: String) -> String {
        if field.count == 1 { return "-" + field }
        var out = "--"
        for ch in field {
            if ch.isUppercase { out += "-" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}

/// Checks shared by the requests (of every job module).
public enum Check {
    /// `value` lies in `range`, else "FIELD must be between … (got …)".
    public static func range<T: Comparable>(_ field: String, _ value: T, _ range: ClosedRange<T>) throws {
        guard range.contains(value) else { throw JobError(field: field, "must be between \(range.lowerBound) and \(range.upperBound) (got \(value))") }
    }

    /// A finite value ≥ 0.
    public static func nonNegative(_ field: String, _ value: Double) throws {
        guard value.isFinite, value >= 0 else { throw JobError(field: field, "must be a finite number ≥ 0 (got \(value))") }
    }

    /// The projector's settings (`invert`, `index invert`, the prototype inversions of `infer`): steps, a positive
    /// learning rate, weights ≥ 0 of which at least one loss term is on, z samples.
    public static func projector(_ c: ProjectorConfig) throws {
        try range("steps", c.steps, 1...100_000)
        guard c.learningRate.isFinite, c.learningRate > 0 else { throw JobError(field: "lr", "must be a finite number > 0 (got \(c.learningRate))") }
        try nonNegative("perceptualWeight", c.perceptualWeight)
        try nonNegative("idWeight", c.identityWeight)
        try nonNegative("mse", c.mse)
        guard c.perceptualWeight > 0 || c.identityWeight > 0 || c.mse > 0 else {
            throw JobError("{perceptualWeight}, {idWeight} and {mse} are all 0: the projector needs at least one loss term above 0")
        }
        try range("meanSamples", c.meanLatentSamples, 1...1_000_000)
    }

    /// A readable file.
    public static func file(_ field: String, _ path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw JobError(field: field, "\(path) does not exist") }
        guard !isDir.boolValue else { throw JobError(field: field, "\(path) is a folder, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw JobError(field: field, "\(path) is not readable (permissions)") }
    }

    /// What `precision` does on this CPU; "PRECISION bf16 needs AVX512-BF16 or AMX; this CPU (…) has neither; …"
    /// where the CPU cannot.
    public static func precision(_ field: String, _ value: Precision) throws -> ComputePrecision {
        do { return try value.resolve() } catch let e as PrecisionUnsupported { throw JobError(field: field, e.description) }
    }

    /// An output folder that exists or can be made, and is writable (`prepareOutputFolder`).
    public static func outputFolder(_ field: String, _ path: String) throws -> URL {
        guard !path.isEmpty else { throw JobError(field: field, "must name a folder (got an empty path)") }
        let url = URL(fileURLWithPath: path)
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw JobError(field: field, "\(path) cannot be created: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: url.path) else { throw JobError(field: field, "\(path) is not writable") }
        return url
    }
}

/// Makes the output folder named by request field `field` (e.g. "out") and checks it is writable, before any work.
public func prepareOutputFolder(_ path: String, field: String) throws -> URL { try Check.outputFolder(field, path) }

/// Pretty, key-sorted JSON with snake_case keys: the format of every report file.
public func reportJSON<T: Encodable>(_ value: T) throws -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    e.keyEncodingStrategy = .convertToSnakeCase
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try e.encode(value)
}

/// Reads a report written by `reportJSON`.
public func decodeReport<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try d.decode(type, from: data)
}

/// The package version, printed by `voicestyle --version` and written into reports.
public let voiceStyleVersion = "0.2.0"

/// One plain sentence for any error: our own errors' descriptions; Foundation file errors as "PATH: what went
/// wrong"; other system errors by their localized description (never a domain and code).
public func plainMessage(_ error: Error) -> String {
    let ns = error as NSError
    if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        let what = (ns.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? ns.localizedDescription
        return path.map { "\($0): \(what)" } ?? what
    }
    return "\(error)"
}
