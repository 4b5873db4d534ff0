// Follows voicestyle generation/projector.py `project2latent` as a job: face photos in, StyleGAN2 latents,
// noise maps, reconstructions and metrics out.
import Foundation
import VoiceStyleHub
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleInversion
import VoiceStyleModels

/// `invert`: find the latent that reproduces each photo.
public struct InvertRequest: Codable, Sendable, Equatable {
    /// Face photos (JPEG or PNG).
    public var images: [String]
    public var projector = ProjectorConfig()
    /// Seed of the W statistics (`seed`) and of each run's noise (`seed + 1 + run`).
    public var seed: UInt64 = 0
    /// Invert each image on its own instead of as one batch (upstream inverts jointly).
    public var independent = false
    public var models = ModelPaths()
    /// FFHQ-align each photo first (nil: as is); with `.all` every face becomes a target (NAME_2 …).
    public var align: AlignOptions?
    /// The precision of the projector's large products (`auto`: bf16 where the CPU has AVX512-BF16 or AMX, else
    /// fp32); the final renders and metrics stay fp32.
    public var precision = Precision.auto

    public init(images: [String]) { self.images = images }

    public func validate() throws {
        _ = try Check.precision("precision", precision)
        guard !images.isEmpty else { throw JobError("give at least one image to invert") }
        try Check.projector(projector)
        try align?.validate()
    }
}

/// Final quality of one reconstruction.
public struct ReconstructionMetrics: Codable, Sendable, Equatable {
    /// On images in [0, 1].
    public var mse: Double
    public var psnrDB: Double
    /// nil when the run left LPIPS out.
    public var lpips: Double?
    public var identityCosine: Double?
}

/// One inverted image in the report.
public struct InvertedImage: Codable, Sendable, Equatable {
    public var file: String
    public var name: String
    public var run: Int
    public var final: ReconstructionMetrics
    /// How the photo was aligned (with `align`).
    public var alignment: FaceAlignmentNote?
}

/// One optimisation run (a batch of images, or one image with `independent`).
public struct InversionRun: Codable, Sendable, Equatable {
    public var images: [String]
    public var steps: [ProjectorStep]
}

/// report.json of `invert`.
public struct InvertReport: Codable, Sendable, Equatable {
    public var request: InvertRequest
    public var latentStd: Double
    public var checkpoints: [String: ModelRef]
    public var images: [InvertedImage]
    public var runs: [InversionRun]
    public var skipped: [SkippedItem]
}

/// The outputs of one image: latent, noise maps, reconstruction and the target | reconstruction pair.
public struct InvertedOutput {
    public var name: String
    public var latent: Tensor<Float>
    public var noises: [Tensor<Float>]
    public var reconstruction: RGBImage
    public var comparison: RGBImage
}

/// The outcome of `invert`.
public struct InvertResult {
    public var outputs: [InvertedOutput]
    public var report: InvertReport

    /// Per image NAME.npy, NAME_noise.npz, NAME.png, NAME_compare.png; report.json (each through a temporary name).
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for o in outputs {
            try NumPyFile.npyData(StoredTensor(o.latent)).writeOutput(to: folder.appendingPathComponent("\(o.name).npy"))
            try NumPyFile.writeNpz(o.noises.enumerated().map { ("noise_\($0.offset)", StoredTensor($0.element)) },
                                   to: folder.appendingPathComponent("\(o.name)_noise.npz"))
            try PNGCodec.encode(o.reconstruction).writeOutput(to: folder.appendingPathComponent("\(o.name).png"))
            try PNGCodec.encode(o.comparison).writeOutput(to: folder.appendingPathComponent("\(o.name)_compare.png"))
        }
        try reportJSON(InvertRequest.envelope(report)).writeOutput(to: folder.appendingPathComponent("report.json"))
    }
}

extension Jobs {
    /// Inverts the readable images (jointly, or each on its own); unreadable ones are reported and skipped.
    public static func invert(_ request: InvertRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> InvertResult {
        try request.validate()
        let config = request.projector
        // Every model file is resolved before any work.
        if config.usesLPIPS { _ = try models.resolve(.vgg16, request.models.vgg) }
        if config.identityWeight != 0 { _ = try models.resolve(.irse50, request.models.identity) }
        let (g, gRef) = try models.generator(request.models.generator)
        var checkpoints = ["generator": gRef]
        var lpips: LPIPS? = nil
        if config.usesLPIPS {
            let (net, refs) = try models.lpips(vgg: request.models.vgg, lin: request.models.lpips)
            lpips = net
            checkpoints["vgg16"] = refs[0]
            if refs.count > 1 { checkpoints["lpips"] = refs[1] }
        }
        var identity: IdentityLoss? = nil
        if config.identityWeight != 0 {
            let (id, ref) = try models.identity(request.models.identity)
            identity = id
            checkpoints["irse50"] = ref
        }
        let projector = Projector(generator: g, lpips: lpips, identity: identity)
        let size = g.lossSize
        var targets: [(name: String, file: String, tensor: Tensor<Float>, alignment: FaceAlignmentNote?)] = [], skipped: [SkippedItem] = []
        var used = Set<String>()
        func add(_ file: String, _ name: String, _ face: RGBImage, _ note: FaceAlignmentNote?) {
            var name = name
            while used.contains(name) { name += "_" }
            used.insert(name)
            targets.append((name, file, Inference.target(face, generator: g), note))
        }
        for path in request.images {
            do {
                let img = try ImageFile.read(URL(fileURLWithPath: path))
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                guard let align = request.align else {
                    add(path, name, img, nil)
                    continue
                }
                let alignment = try PhotoAligner.align(img, options: align)
                if alignment.faces.isEmpty { skipped.append(SkippedItem(path: path, reason: "no face found")) }
                for (k, face) in alignment.faces.enumerated() {
                    add(path, k == 0 ? name : "\(name)_\(k + 1)", face.image, FaceAlignmentNote(face, of: alignment, options: align))
                }
            } catch {
                skipped.append(SkippedItem(path: path, reason: plainMessage(error)))
            }
        }
        guard !targets.isEmpty else {
            throw JobError(request.align == nil ? "none of the \(request.images.count) image(s) given is a readable JPEG or PNG"
                                                : "no face was found in the \(request.images.count) image(s) given")
        }
        let precision = try Check.precision("precision", request.precision)
        var rng = SeededGenerator(seed: request.seed)
        let (mean, std) = projector.latentStatistics(count: config.meanLatentSamples, using: &rng)
        let groups: [[Int]] = request.independent ? targets.indices.map { [$0] } : [Array(targets.indices)]
        var outputs: [InvertedOutput] = [], images: [InvertedImage] = [], runs: [InversionRun] = []
        for (gi, group) in groups.enumerated() {
            let batch = Tensor.concat(group.map { targets[$0].tensor.reshaped([1, 3, size, size]) }, axis: 0)
            var randomness = SeededProjectorRandomness(seed: request.seed &+ 1 &+ UInt64(gi))
            let stage = groups.count > 1 ? "invert \(targets[group[0]].name)" : "invert"
            let result: ProjectionResult
            do {
                result = try precision.run {
                    try projector.project(batch, config: config, latentMean: mean, latentStd: std, randomness: &randomness,
                                          onStep: { progress(JobEvent(stage: stage, done: $0.step + 1, total: config.steps, detail: String(format: "loss %.4f", $0.total))) })
                }
            } catch {
                for k in group { skipped.append(SkippedItem(path: targets[k].file, reason: "\(error)")) }
                continue
            }
            // Final images with the optimised noise, and metrics per image.
            let rendered = try withoutGradients { try g.render(result.latent, noises: result.noises) }
            let final = g.lossImage(rendered)
            let lpipsValues = withoutGradients { projector.lpips.map { $0(final, batch) } }
            let idCos: Tensor<Float>? = withoutGradients { projector.identity.map { ($0.features(final) * $0.features(batch)).sum(axes: [1]) } }
            for (k, index) in group.enumerated() {
                let t = targets[index]
                let recon = final.slice(axis: 0, k, k + 1), target = batch.slice(axis: 0, k, k + 1)
                let pictures = ImageTensors.images(Tensor.concat([target, recon], axis: 0))
                outputs.append(InvertedOutput(name: t.name, latent: result.latent.slice(axis: 0, k, k + 1),
                                              noises: result.noises.map { $0.slice(axis: 0, k, k + 1) }, reconstruction: pictures[1],
                                              comparison: ImageTensors.grid(pictures, columns: 2)))
                let mse = Double(withoutGradients { ((recon - target) / 2).square().mean() }.item)  // on [0, 1]
                images.append(InvertedImage(file: t.file, name: t.name, run: gi, final: ReconstructionMetrics(
                    mse: mse, psnrDB: 10 * log10(1 / max(mse, 1e-12)), lpips: lpipsValues.map { Double($0.buffer[k]) }, identityCosine: idCos.map { Double($0.buffer[k]) }),
                    alignment: t.alignment))
            }
            runs.append(InversionRun(images: group.map { targets[$0].name }, steps: result.steps))
        }
        guard !outputs.isEmpty else {
            throw JobError("no image could be inverted (\(skipped.map { "\($0.path): \($0.reason)" }.prefix(3).joined(separator: "; ")))")
        }
        let report = InvertReport(request: request, latentStd: Double(std), checkpoints: checkpoints, images: images, runs: runs, skipped: skipped)
        return InvertResult(outputs: outputs, report: report)
    }
}
