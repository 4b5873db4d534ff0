// The one loader every job uses (upstream: generation/pipeline.py L120–150 loads the files one by one): model files
// found through the hub's `ModelLocator`, each loaded once, with the reference a report keeps.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleHub
import VoiceStyleInversion
import VoiceStyleModels

/// Loads model files once per path and hands out the loaded networks with their `ModelRef`. In-memory
/// models (the demo's untrained ones) are registered under a name that then stands for a path.
public final class ModelLoader: @unchecked Sendable {
    /// Where default files are found.
    public let locator: ModelLocator
    private var loaded: [String: (model: AnyObject, ref: ModelRef)] = [:]
    /// The lin file LPIPS was built with, by the VGG path (so that a cached LPIPS still reports it).
    private var linRefs: [String: ModelRef] = [:]
    private let lock = NSLock()

    public init(locator: ModelLocator = ModelLocator()) { self.locator = locator }
    /// Default files from `checkpoints` alone.
    public convenience init(checkpoints: URL) { self.init(locator: ModelLocator(only: checkpoints)) }

    /// Makes `model` available under `name` (used wherever a path is accepted).
    public func register(_ model: AnyObject, as name: String, sha256: String) {
        let stored: AnyObject = (model as? any FaceGenerator).map { GeneratorBox($0) } ?? model
        lock.withLock { loaded[name] = (stored, ModelRef(path: name, sha256: sha256)) }
    }

    /// Whether `name` names a registered in-memory model.
    public func isRegistered(_ name: String) -> Bool { lock.withLock { loaded[name] != nil } }

    /// The path or registered name a job will use for `file`: `explicit`, else the default; fails with a
    /// `ModelFileError` (what it is, where to get it) before any work starts.
    public func resolve(_ file: ModelFile, _ explicit: String?) throws -> String {
        if let explicit, isRegistered(explicit) { return explicit }
        return try file.resolve(explicit, locator: locator).path
    }

    private func load<M: AnyObject>(_ file: ModelFile, _ explicit: String?, _ make: (URL) throws -> M) throws -> (M, ModelRef) {
        let path = try resolve(file, explicit)
        if let hit = lock.withLock({ loaded[path] }) {
            guard let m = hit.model as? M else { throw JobError("\(path) is not a \(file.what)") }
            return (m, hit.ref)
        }
        let url = URL(fileURLWithPath: path)
        let model = try make(url)
        let ref = ModelRef(path: url.path, sha256: try SHA256.hex(file: url))
        lock.withLock { loaded[path] = (model, ref) }
        return (model, ref)
    }

    /// A generator of either family, recognised from the checkpoint's keys: rosinality StyleGAN2 (train dict, bare
    /// state dict or safetensors) or the face DCGAN (gan-face-generate's weights.tar, or a bare state dict).
    public func generator(_ explicit: String?) throws -> (any FaceGenerator, ModelRef) {
        let (box, ref) = try load(.generator, explicit) { url -> GeneratorBox in
            let checkpoint = try Checkpoint.open(url)
            switch GeneratorFamily.of(checkpoint) {
            case .dcgan: return GeneratorBox(try DCGANGenerator(checkpoint: checkpoint))
            case .stylegan2: return GeneratorBox(try StyleGAN2Generator(checkpoint: checkpoint))
            }
        }
        return (box.generator, ref)
    }

    /// The CMPC voice and face encoders (the `model` entry of cmpc2's checkpoint).
    public func cmpc(_ explicit: String?) throws -> (CMPCModel, ModelRef) {
        try load(.cmpc, explicit) { try CMPCModel(stateDict: StateDict(Checkpoint.open($0), path: "model")) }
    }

    /// IR-SE50 wrapped as the projector's identity loss.
    public func identity(_ explicit: String?) throws -> (IdentityLoss, ModelRef) {
        try load(.irse50, explicit) { IdentityLoss(network: try IRSE50(stateDict: StateDict(Checkpoint.open($0)))) }
    }

    /// dlib's face recogniser, its two files found like every model file (scripts/setup fetches them).
    public func faceRecognizer() throws -> FaceRecognizer {
        try FaceRecognizer.shared(model: ModelFile.dlibRecognizer.resolve(nil, locator: locator).path,
                                  shapePredictor: ModelFile.dlibShapePredictor.resolve(nil, locator: locator).path)
    }

    /// LPIPS-VGG16 from torchvision's VGG16 and lpips' lin weights, or from one whole `lpips.LPIPS` state dict
    /// given as `vgg` (`net.slice…` and `lin…` keys; `lin` is then not read).
    public func lpips(vgg: String?, lin: String?) throws -> (LPIPS, [ModelRef]) {
        var linRef: ModelRef? = nil
        let (net, vggRef) = try load(.vgg16, vgg) { url -> LPIPS in
            let dict = try StateDict(Checkpoint.open(url))
            if dict.keys.contains(where: { $0.hasPrefix("net.slice") }) { return try LPIPS(lpipsStateDict: dict) }
            let linURL = try ModelFile.lpips.resolve(lin, locator: locator)
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

/// A loaded generator of either family, as the loader caches it.
final class GeneratorBox {
    let generator: any FaceGenerator
    init(_ generator: any FaceGenerator) { self.generator = generator }
}
