// No upstream counterpart (voicestyle generation/pipeline.py infers one voice per run): `infer --voices`, the
// infer job over a list of voices with the models loaded once and the index's cached latents shared; one result
// folder per voice; resumable; shardable like the index jobs.
import Foundation
import VoiceStyleHub
import VoiceStyleImaging
import VoiceStyleIndex

/// `infer --voices`: one face per voice of a list.
public struct InferManyRequest: Codable, Sendable, Equatable {
    /// A folder of clips (walked for .wav, .flac, .ogg, .opus, .mp3, .aiff) or a CSV with a `path` column (paths
    /// relative to the CSV's folder).
    public var voices: String
    /// The prototype index folder.
    public var index: String
    /// The output folder: one folder per voice, named after the clip (`Jobs.voiceList`).
    public var out: String
    public var config = InferenceConfig()
    public var models = ModelPaths()
    /// A line shown on each sheet and report.
    public var notice: String?
    /// Only this slice of the list (in list order).
    public var shard: Shard?

    public init(voices: String, index: String, out: String) { self.voices = voices; self.index = index; self.out = out }

    public func validate() throws {
        try config.validate()
        guard FileManager.default.fileExists(atPath: voices) else { throw JobError(field: "voices", "\(voices) does not exist (give a folder of clips or a CSV with a path column)") }
        guard !out.isEmpty else { throw JobError(field: "out", "must name a folder (got an empty path)") }
        if let shard { _ = try Shard(index: shard.index, count: shard.count) }
    }

    /// The single-voice request of one clip.
    public func request(voice: String) -> InferRequest {
        var r = InferRequest(voice: voice, index: index)
        (r.config, r.models, r.notice) = (config, models, notice)
        return r
    }
}

/// What happened to one voice.
public struct VoiceOutcome: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Inferred now.
        case done
        /// Its folder already held the complete result of the same request (a resumed run).
        case complete
        /// Its inference failed (`error`); the other voices went on.
        case failed
    }
    public var voice: String
    public var folder: String
    public var status: Status
    public var error: String?
    public var seconds: Double
}

/// What `infer --voices` did.
public struct InferManyReport: Codable, Sendable, Equatable {
    public var index: String
    public var out: String
    public var shard: Shard?
    /// Voices in the whole list (all shards).
    public var listed: Int
    public var voices: [VoiceOutcome]
    public var seconds: Double
    public var done: Int { voices.filter { $0.status == .done }.count }
    public var failed: Int { voices.filter { $0.status == .failed }.count }
    /// Voices inferred now per hour of this run's time (nil when none were).
    public var voicesPerHour: Double? { done > 0 && seconds > 0 ? Double(done) * 3600 / seconds : nil }
}

extension Jobs {
    /// The clips of `voices` (a folder, walked, or a CSV with a `path` column relative to its folder), in list
    /// order, each with its output folder name: the folder-relative path without extension (a CSV's clips: the
    /// file name without extension), made unique with -2, -3, … in list order.
    public static func voiceList(_ voices: String) throws -> [(file: String, name: String)] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: voices, isDirectory: &isDir) else { throw JobError(field: "voices", "\(voices) does not exist") }
        if isDir.boolValue {
            let list = namedFiles([voices], kind: FileTree.isAudio)
            guard !list.isEmpty else { throw JobError(field: "voices", "\(voices) holds no sound files (.wav, .flac, .ogg, .opus, .mp3, .aiff)") }
            return list
        }
        let url = URL(fileURLWithPath: voices)
        let table = try CSVTable.read(url)
        guard let column = table.header.firstIndex(of: "path") else {
            throw JobError(field: "voices", "\(voices): a CSV of voices needs a path column (got \(table.header.joined(separator: ",")))")
        }
        let root = url.deletingLastPathComponent()
        let files = try table.rows.enumerated().map { n, row -> String in
            guard row.count > column, !row[column].isEmpty else { throw JobError(field: "voices", "\(voices) row \(n + 1) has no path") }
            return CSVTable.resolve(row[column], root: root)
        }
        guard !files.isEmpty else { throw JobError(field: "voices", "\(voices) lists no clips") }
        return namedFiles(files) { _ in true }
    }

    /// Whether `folder` holds the complete result of `request`: a report.json (written last) of the same request,
    /// and the files written before it.
    static func isComplete(_ folder: URL, request: InferRequest) -> Bool {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("report.json").path),
              let report = try? decodeReport(InferReport.self, from: data), report.request == request else { return false }
        return ["face.png", "sheet.png", "latent.npy"].allSatisfy { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
    }

    /// Infers a face for every voice of the list (or of its slice) into `out/NAME/` (face.png, sheet.png,
    /// latent.npy, report.json; report.json last, each file through a temporary name). Models are loaded once
    /// (through `models`) and prototype latents come from the index's cache, so a prototype is inverted at most
    /// once per run. Resumable: a voice whose folder holds the complete result of the same request is left as it is.
    /// A voice that fails is reported and the others go on; problems of the index or the model files stop the run
    /// before the first voice.
    public static func inferMany(_ request: InferManyRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> InferManyReport {
        try request.validate()
        let start = Date()
        let all = try voiceList(request.voices)
        let out = try Check.outputFolder("out", request.out)
        // Everything but the voice, checked once: the index, the CMPC it was built with, the generator and loss networks.
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: request.index))
        guard !index.records.isEmpty else { throw IndexError.empty(index.directory.path) }
        let encoders = try models.encoders(for: index, explicit: request.models.cmpc)
        let source = try models.latentSource(index: index, settings: request.config.inversion, precision: try Check.precision("precision", request.config.precision),
                                             paths: request.models, resolveNow: true)
        _ = try models.refiner(generator: source.generator, critic: encoders.model, identity: request.models.identity, config: request.config.refinement)
        let mine = request.shard?.slice(all) ?? all
        var outcomes: [VoiceOutcome] = []
        for (n, item) in mine.enumerated() {
            progress(JobEvent(stage: "voices", done: n, total: mine.count, detail: item.name))
            let folder = out.appendingPathComponent(item.name)
            let single = request.request(voice: item.file)
            let began = Date()
            if isComplete(folder, request: single) {
                outcomes.append(VoiceOutcome(voice: item.file, folder: folder.path, status: .complete, seconds: 0))
                continue
            }
            do {
                let result = try infer(single, models: models, progress: progress)
                try result.write(to: folder)
                outcomes.append(VoiceOutcome(voice: item.file, folder: folder.path, status: .done, seconds: Date().timeIntervalSince(began)))
            } catch {
                outcomes.append(VoiceOutcome(voice: item.file, folder: folder.path, status: .failed, error: plainMessage(error),
                                             seconds: Date().timeIntervalSince(began)))
            }
        }
        progress(JobEvent(stage: "voices", done: mine.count, total: mine.count))
        return InferManyReport(index: index.directory.path, out: out.path, shard: request.shard, listed: all.count, voices: outcomes,
                               seconds: Date().timeIntervalSince(start))
    }
}
