// The upstream model files voicestyle uses (voicestyle README, generation/pipeline.py L120–150 loads them), where
// they live by default, where upstream publishes them, and the one loader every job uses.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleInversion
import VoiceStyleModels

/// One upstream model file.
public struct ModelFile: Sendable {
    /// File name inside `checkpoints/`.
    public let name: String
    /// What it is.
    public let what: String
    /// Where upstream publishes it (in words).
    public let source: String
    /// The address upstream publishes (and what the file must be, where known), for `models fetch`.
    public let download: DownloadSource

    public static let generator = ModelFile(
        name: "550000.pt", what: "rosinality StyleGAN2 FFHQ 256 px generator",
        source: "the rosinality/stylegan2-pytorch README (Google Drive link)",
        download: DownloadSource(url: "https://drive.google.com/open?id=1PQutd-JboOCOZqmd95XWxWrO8gGEvRcO"))  // README.md L80
    public static let cmpc = ModelFile(
        name: "model_best_256.pth.tar", what: "CMPC voice and face encoders", source: "the audio-visual/voicestyle README (Google Drive folder)",
        download: DownloadSource(url: "https://drive.google.com/drive/folders/1U77L9kx95HrpMPBnJGMVb4ShUr3iTR26"))  // README.md L12
    public static let memory = ModelFile(
        name: "frame_memory_best_256.pth.tar", what: "CMPC k-means prototype memory", source: "the audio-visual/voicestyle README (Google Drive folder)",
        download: DownloadSource(url: "https://drive.google.com/drive/folders/1U77L9kx95HrpMPBnJGMVb4ShUr3iTR26"))
    public static let irse50 = ModelFile(
        name: "model_ir_se50.pth", what: "IR-SE50 face recognition (identity loss)",
        source: "the eladrich/pixel2style2pixel README (Google Drive link)",
        download: DownloadSource(url: "https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view"))  // README.md L145
    public static let vgg16 = ModelFile(
        name: "vgg16-397923af.pth", what: "torchvision VGG16 ImageNet weights (LPIPS features)",
        source: "torchvision's model zoo (the vgg16 ImageNet weights torchvision downloads)",
        download: DownloadSource(url: "https://download.pytorch.org/models/vgg16-397923af.pth"))  // torchvision/models/vgg.py L15
    public static let lpips = ModelFile(
        name: "vgg.pth", what: "LPIPS v0.1 linear heads",
        source: "richzhang/PerceptualSimilarity lpips/weights/v0.1/vgg.pth (also in pip lpips)",
        download: DownloadSource(
            url: "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/082bb24f84c091ea94de2867d34c4544f68e0963/lpips/weights/v0.1/vgg.pth",
            sha256: "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", size: 7289))

    /// Every file, in the order `models fetch` and `doctor` list them.
    public static let all: [ModelFile] = [generator, cmpc, memory, irse50, vgg16, lpips]

    /// `explicit` if given, else `NAME` in `folder` (default `checkpoints/` relative to the working directory);
    /// a missing file is a `ModelFileError` saying what it is and where to get it.
    public func resolve(_ explicit: String?, in folder: URL = URL(fileURLWithPath: "checkpoints")) throws -> URL {
        let url = explicit.map { URL(fileURLWithPath: $0) } ?? folder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelFileError(file: self, path: url.path) }
        return url
    }
}

/// A model file that is not where it was expected.
public struct ModelFileError: Error, CustomStringConvertible {
    public let file: ModelFile
    public let path: String
    public var description: String {
        "missing \(path): the \(file.what) (\(file.name)). Download it from \(file.source) into checkpoints/, or give its path with the option."
    }
}

/// A model as a job used it: its file (or the name of an in-memory model) and the SHA-256 of its bytes.
public struct ModelRef: Codable, Sendable, Equatable {
    public var path: String
    public var sha256: String
    public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
}

/// The model files a job uses; nil means the default (`checkpoints/NAME`, or for CMPC the checkpoint the
/// index was built with).
public struct ModelPaths: Codable, Sendable, Equatable {
    public var generator: String?
    public var cmpc: String?
    /// IR-SE50 (identity loss).
    public var identity: String?
    /// torchvision VGG16, or a whole lpips state dict (then `lpips` is not read).
    public var vgg: String?
    /// LPIPS v0.1 lin weights.
    public var lpips: String?
    public init(generator: String? = nil, cmpc: String? = nil, identity: String? = nil, vgg: String? = nil, lpips: String? = nil) {
        self.generator = generator; self.cmpc = cmpc; self.identity = identity; self.vgg = vgg; self.lpips = lpips
    }
}

/// Loads model files once per path and hands out the loaded networks with their `ModelRef`. In-memory
/// models (the demo's untrained ones) are registered under a name that then stands for a path.
public final class ModelLoader: @unchecked Sendable {
    /// Folder of the default files.
    public let checkpoints: URL
    private var loaded: [String: (model: AnyObject, ref: ModelRef)] = [:]
    /// The lin file LPIPS was built with, by the VGG path (so that a cached LPIPS still reports it).
    private var linRefs: [String: ModelRef] = [:]
    private let lock = NSLock()

    public init(checkpoints: URL = URL(fileURLWithPath: "checkpoints")) { self.checkpoints = checkpoints }

    /// Makes `model` available under `name` (used wherever a path is accepted).
    public func register(_ model: AnyObject, as name: String, sha256: String) {
        lock.withLock { loaded[name] = (model, ModelRef(path: name, sha256: sha256)) }
    }

    /// Whether `name` names a registered in-memory model.
    public func isRegistered(_ name: String) -> Bool { lock.withLock { loaded[name] != nil } }

    /// The path or registered name a job will use for `file`: `explicit`, else the default; fails with a
    /// `ModelFileError` (what it is, where to get it) before any work starts.
    public func resolve(_ file: ModelFile, _ explicit: String?) throws -> String {
        if let explicit, isRegistered(explicit) { return explicit }
        return try file.resolve(explicit, in: checkpoints).path
    }

    private func load<M: AnyObject>(_ file: ModelFile, _ explicit: String?, _ make: (URL) throws -> M) throws -> (M, ModelRef) {
        let path = try resolve(file, explicit)
        if let hit = lock.withLock({ loaded[path] }) {
            guard let m = hit.model as? M else { throw ModelFileError(file: file, path: path) }
            return (m, hit.ref)
        }
        let url = URL(fileURLWithPath: path)
        let model = try make(url)
        let ref = ModelRef(path: url.path, sha256: try SHA256.hex(file: url))
        lock.withLock { loaded[path] = (model, ref) }
        return (model, ref)
    }

    /// A rosinality StyleGAN2 generator (train dict, bare state dict or safetensors).
    public func generator(_ explicit: String?) throws -> (StyleGAN2Generator, ModelRef) {
        try load(.generator, explicit) { try StyleGAN2Generator(checkpoint: Checkpoint.open($0)) }
    }

    /// The CMPC voice and face encoders (the `model` entry of cmpc2's checkpoint).
    public func cmpc(_ explicit: String?) throws -> (CMPCModel, ModelRef) {
        try load(.cmpc, explicit) { try CMPCModel(stateDict: StateDict(Checkpoint.open($0), path: "model")) }
    }

    /// IR-SE50 wrapped as the projector's identity loss.
    public func identity(_ explicit: String?) throws -> (IdentityLoss, ModelRef) {
        try load(.irse50, explicit) { IdentityLoss(network: try IRSE50(stateDict: StateDict(Checkpoint.open($0)))) }
    }

    /// LPIPS-VGG16 from torchvision's VGG16 and lpips' lin weights, or from one whole `lpips.LPIPS` state dict
    /// given as `vgg` (`net.slice…` and `lin…` keys; `lin` is then not read).
    public func lpips(vgg: String?, lin: String?) throws -> (LPIPS, [ModelRef]) {
        var linRef: ModelRef? = nil
        let (net, vggRef) = try load(.vgg16, vgg) { url -> LPIPS in
            let dict = try StateDict(Checkpoint.open(url))
            if dict.keys.contains(where: { $0.hasPrefix("net.slice") }) { return try LPIPS(lpipsStateDict: dict) }
            let linURL = try ModelFile.lpips.resolve(lin, in: checkpoints)
            linRef = ModelRef(path: linURL.path, sha256: try SHA256.hex(file: linURL))
            return try LPIPS(vgg: dict, lin: StateDict(Checkpoint.open(linURL)))
        }
        let refs: [ModelRef?] = lock.withLock {
            if let linRef { linRefs[vggRef.path] = linRef }
            return [vggRef, linRefs[vggRef.path]]
        }
        return (net, refs.compactMap { $0 })
    }
}

/// `models fetch`: download the upstream model files into `checkpoints/`.
public struct FetchModelsRequest: Codable, Sendable, Equatable {
    /// Folder to download into.
    public var folder = "checkpoints"
    /// Only these files (names as in `ModelFile.all`); default all.
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

extension Jobs {
    /// Downloads each requested model file (resuming partial downloads, verifying size and sha256 where known);
    /// a file that fails is reported and the others still run.
    public static func fetchModels(_ request: FetchModelsRequest, progress: JobProgress = { _ in }) throws -> [FetchedModel] {
        let files = try (request.only ?? ModelFile.all.map(\.name)).map { name in
            guard let f = ModelFile.all.first(where: { $0.name == name }) else {
                throw JobError("--only \(name) is not a model file; choose from \(ModelFile.all.map(\.name).joined(separator: ", "))")
            }
            return f
        }
        let folder = try Check.outputFolder("--folder", request.folder)
        let downloader = ModelDownloader()
        return files.map { file in
            let destination = folder.appendingPathComponent(file.name)
            do {
                let outcome = try downloader.fetch(request.sources?[file.name] ?? file.download, to: destination) { received, total in
                    progress(JobEvent(stage: file.name, done: Int(received / 1_000_000), total: Int((total ?? received) / 1_000_000), detail: "MB"))
                }
                let status = outcome.alreadyPresent ? "present" : outcome.resumed ? "resumed" : "downloaded"
                return FetchedModel(name: file.name, path: destination.path, status: status, bytes: outcome.bytes, sha256: outcome.sha256)
            } catch {
                return FetchedModel(name: file.name, path: destination.path, status: "failed", error: "\(error)")
            }
        }
    }
}
