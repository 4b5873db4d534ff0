// The job API shared by every front-end (CLI, benchmarks, later the web page and cluster scripts): progress
// events, plain errors, and the checks every job makes on its inputs before any long work starts.
import Foundation
import VoiceStyleIndex
import VoiceStyleModels

/// The jobs: `buildIndex`, `invertPrototypes`, `search`, `infer`, `invert`, `demo`, `fetchModels`. Each takes a
/// typed request, validates it before any long work, reports progress and returns a `Codable` report.
public enum Jobs {}

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

/// A request a job refuses before starting, in one plain sentence naming the input and what is allowed.
public struct JobError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Checks shared by the requests.
enum Check {
    /// `value` lies in `range`, else "OPTION must be between … (got …)".
    static func range<T: Comparable>(_ name: String, _ value: T, _ range: ClosedRange<T>) throws {
        guard range.contains(value) else { throw JobError("\(name) must be between \(range.lowerBound) and \(range.upperBound) (got \(value))") }
    }

    /// A finite value ≥ 0.
    static func nonNegative(_ name: String, _ value: Double) throws {
        guard value.isFinite, value >= 0 else { throw JobError("\(name) must be a finite number ≥ 0 (got \(value))") }
    }

    /// A readable file.
    static func file(_ name: String, _ path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw JobError("\(name) \(path) does not exist") }
        guard !isDir.boolValue else { throw JobError("\(name) \(path) is a folder, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw JobError("\(name) \(path) is not readable (permissions)") }
    }

    /// An output folder that exists or can be made, and is writable (`prepareOutputFolder`).
    static func outputFolder(_ name: String, _ path: String) throws -> URL {
        guard !path.isEmpty else { throw JobError("\(name) must name a folder (got an empty path)") }
        let url = URL(fileURLWithPath: path)
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw JobError("\(name) \(path) cannot be created: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: url.path) else { throw JobError("\(name) \(path) is not writable") }
        return url
    }
}

/// Makes the output folder named by option `option` (e.g. "--out") and checks it is writable, before any work.
public func prepareOutputFolder(_ path: String, option: String) throws -> URL { try Check.outputFolder(option, path) }

/// The CMPC checkpoint a job on `index` uses: `explicit`, else the one the index was built with, else the
/// default file. Refuses a checkpoint other than the index's (its vectors would not be comparable).
func indexCMPC(_ index: PrototypeIndex, explicit: String?, models: ModelLoader) throws -> (CMPCModel, ModelRef) {
    let remembered = try index.store.setting("cmpc_path")
    let path = explicit ?? remembered.flatMap { FileManager.default.fileExists(atPath: $0) || models.isRegistered($0) ? $0 : nil }
    let (model, ref) = try models.cmpc(path)
    if try index.store.setting("source") == nil, let built = try index.store.setting("cmpc_sha256"), built != ref.sha256 {
        throw IndexError.mixedCheckpoints(index: index.directory.path, existing: built, given: ref.sha256)
    }
    return (model, ref)
}

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
