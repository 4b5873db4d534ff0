// `voicestyle invert`: face photos in, StyleGAN2 latents out (voicestyle's project2latent).
import ArgumentParser
import Foundation
import VoiceStyle

/// A one-line progress display on standard error: step, loss and time left.
struct Progress {
    let label: String, total: Int
    let start = DispatchTime.now().uptimeNanoseconds
    var quiet = false
    /// When set, the rate since `first` items is shown in these units per second.
    var rateUnit: String? = nil
    var first = 0

    func update(_ done: Int, _ detail: String) {
        guard !quiet else { return }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let eta = done > first ? elapsed / Double(done - first) * Double(total - done) : 0
        let width = 24, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = rateUnit.map { elapsed > 0 ? String(format: " %.1f %@/s", Double(done - first) / elapsed, $0) : "" } ?? ""
        let line = "\r\(label) \(bar) \(done)/\(total)\(rate) \(detail)  ETA \(formatSeconds(eta))   "
        FileHandle.standardError.write(Data(line.utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func formatSeconds(_ s: Double) -> String {
    s >= 3600 ? String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60) : s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.0fs", s)
}

/// LPIPS-VGG16 from torchvision's VGG16 and lpips' lin weights, or from one whole `lpips.LPIPS` state dict
/// given as `vgg` (`net.slice…` and `lin…` keys; `lpips` is then not read).
func loadLPIPS(vgg: String?, lpips: String?) throws -> LPIPS {
    let vggDict = try StateDict(Checkpoint.open(ModelFile.vgg16.resolve(vgg)))
    if vggDict.keys.contains(where: { $0.hasPrefix("net.slice") }) { return try LPIPS(lpipsStateDict: vggDict) }
    return try LPIPS(vgg: vggDict, lin: StateDict(Checkpoint.open(ModelFile.lpips.resolve(lpips))))
}

/// The loss networks of the projector from their upstream files.
func loadProjector(generator: StyleGAN2Generator, vgg: String?, lpips: String?, idModel: String?, identity: Bool) throws -> Projector {
    let net = try loadLPIPS(vgg: vgg, lpips: lpips)
    var id: IdentityLoss? = nil
    if identity { id = IdentityLoss(network: try IRSE50(stateDict: StateDict(Checkpoint.open(ModelFile.irse50.resolve(idModel))))) }
    return Projector(generator: generator, lpips: net, identity: id)
}

struct InvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Find the StyleGAN2 latent that reproduces each face photo (voicestyle's projector).",
        discussion: """
            Loss = LPIPS-VGG16 (summed over the batch) + identity-weight × IR-SE50 identity loss + 1e5 × noise \
            regulariser + mse × pixel MSE; Adam over the latent (W, or W+ with --w-plus) and the noise maps, with \
            upstream's learning-rate ramp and latent noise. Per image NAME it writes NAME.npy (the latent: [1, 512] \
            for W, [1, n_latent, 512] for W+), NAME_noise.npz (noise_0 …), NAME.png (the reconstruction), \
            NAME_compare.png (target | reconstruction) and, for the run, report.json. Images are inverted \
            jointly as one batch (upstream) unless --independent. Model files default to checkpoints/.
            """)

    @Argument(help: "Face photos (JPEG or PNG).", completion: .file())
    var images: [String]

    @Option(help: "Generator checkpoint (default checkpoints/550000.pt).", completion: .file())
    var generator: String?

    @Option(help: "torchvision VGG16 weights (default checkpoints/vgg16-397923af.pth), or a whole lpips state dict.", completion: .file())
    var vgg: String?

    @Option(help: "LPIPS v0.1 lin weights (default checkpoints/vgg.pth).", completion: .file())
    var lpips: String?

    @Option(help: "IR-SE50 weights (default checkpoints/model_ir_se50.pth); not loaded when --id-weight is 0.", completion: .file())
    var idModel: String?

    @Option(help: "Optimisation steps (voicestyle: 300; rosinality's CLI: 1000).")
    var steps: Int = 300

    @Option(help: "Peak learning rate.")
    var lr: Double = 0.1

    @Option(help: "Weight of the identity loss (0 disables it).")
    var idWeight: Double = 1

    @Option(help: "Weight of the pixel MSE.")
    var mse: Double = 0

    @Flag(help: "Optimise one latent per generator layer (W+).")
    var wPlus = false

    @Flag(help: "Invert each image on its own instead of as one batch.")
    var independent = false

    @Option(help: "Seed for the mean-latent samples, the initial noise maps and the latent noise.")
    var seed: UInt64 = 0

    @Option(help: "z samples for the mean W and its σ.")
    var meanSamples: Int = 10_000

    @Option(help: "Output folder.", completion: .directory)
    var out: String

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
    }

    func run() throws {
        let genURL = try ModelFile.generator.resolve(generator)
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(genURL))
        let projector = try loadProjector(generator: g, vgg: vgg, lpips: lpips, idModel: idModel, identity: idWeight != 0)
        let size = min(g.config.size, 256)
        // Read every image; a bad one is reported and skipped.
        var targets: [(name: String, file: String, tensor: Tensor<Float>)] = []
        var used = Set<String>()
        for path in images {
            do {
                let img = try ImageFile.read(URL(fileURLWithPath: path))
                var name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                while used.contains(name) { name += "_" }
                used.insert(name)
                targets.append((name, path, FacePreprocessing.projector(img, size: size)))
            } catch {
                FileHandle.standardError.write(Data("skipping \(path): \(error)\n".utf8))
            }
        }
        guard !targets.isEmpty else { throw ValidationError("no readable image among the \(images.count) given") }
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: seed)
        let (mean, std) = projector.latentStatistics(count: meanSamples, using: &rng)
        var config = ProjectorConfig()
        config.steps = steps
        config.learningRate = lr
        config.identityWeight = idWeight
        config.mse = mse
        config.wPlus = wPlus
        config.meanLatentSamples = meanSamples
        let groups: [[Int]] = independent ? targets.indices.map { [$0] } : [Array(targets.indices)]
        var imageReports: [[String: Any]] = []
        var runs: [[String: Any]] = []
        for (gi, group) in groups.enumerated() {
            let batch = Tensor.concat(group.map { targets[$0].tensor.reshaped([1, 3, size, size]) }, axis: 0)
            var randomness = SeededProjectorRandomness(seed: seed &+ 1 &+ UInt64(gi))
            let progress = Progress(label: groups.count > 1 ? "invert \(targets[group[0]].name)" : "invert", total: steps, quiet: quiet)
            let result: ProjectionResult
            do {
                result = try projector.project(batch, config: config, latentMean: mean, latentStd: std, randomness: &randomness,
                                               onStep: { s in progress.update(s.step + 1, String(format: "loss %.4f", s.total)) })
            } catch {
                FileHandle.standardError.write(Data("\nstopped \(group.map { targets[$0].file }.joined(separator: ", ")): \(error)\n".utf8))
                continue
            }
            // Final images with the optimised noise, and metrics per image.
            let final = withoutGradients { g.synthesize(try! g.latents([result.latent], inputIsLatent: true), noise: result.noises) }
            let lpipsValues = withoutGradients { projector.lpips(final, batch) }
            let idCos: Tensor<Float>? = withoutGradients { projector.identity.map { ($0.features(final) * $0.features(batch)).sum(axes: [1]) } }
            for (k, index) in group.enumerated() {
                let t = targets[index]
                let latent = result.latent.slice(axis: 0, k, k + 1)
                try NumPyFile.writeNpy(StoredTensor(latent), to: outURL.appendingPathComponent("\(t.name).npy"))
                try NumPyFile.writeNpz(result.noises.enumerated().map { ("noise_\($0.offset)", StoredTensor($0.element.slice(axis: 0, k, k + 1))) },
                                       to: outURL.appendingPathComponent("\(t.name)_noise.npz"))
                let recon = final.slice(axis: 0, k, k + 1), target = batch.slice(axis: 0, k, k + 1)
                let pictures = ImageTensors.images(Tensor.concat([target, recon], axis: 0))
                try PNGCodec.write(pictures[1], to: outURL.appendingPathComponent("\(t.name).png"))
                try PNGCodec.write(ImageTensors.grid(pictures, columns: 2), to: outURL.appendingPathComponent("\(t.name)_compare.png"))
                let mseValue = Double(withoutGradients { ((recon - target) / 2).square().mean() }.item)  // on [0, 1]
                var metrics: [String: Any] = ["mse": mseValue, "psnr_db": 10 * log10(1 / max(mseValue, 1e-12)),
                                              "lpips": Double(lpipsValues.buffer[k])]
                if let idCos { metrics["identity_cosine"] = Double(idCos.buffer[k]) }
                imageReports.append(["file": t.file, "name": t.name, "run": gi, "final": metrics])
            }
            runs.append(["images": group.map { targets[$0].name },
                         "steps": result.steps.map { ["step": $0.step, "lr": $0.learningRate, "noise_strength": $0.noiseStrength,
                                                      "lpips": $0.perceptual, "identity": $0.identity, "noise_regularize": $0.noiseRegularization,
                                                      "mse": $0.mse, "loss": $0.total] as [String: Any] }])
        }
        var checkpoints: [String: Any] = ["generator": ["path": genURL.path, "sha256": try SHA256.hex(file: genURL)]]
        for (key, file, explicit) in [("vgg16", ModelFile.vgg16, vgg), ("lpips", ModelFile.lpips, lpips)] {
            let u = try file.resolve(explicit)
            checkpoints[key] = ["path": u.path, "sha256": try SHA256.hex(file: u)]
        }
        if idWeight != 0 { let u = try ModelFile.irse50.resolve(idModel); checkpoints["irse50"] = ["path": u.path, "sha256": try SHA256.hex(file: u)] }
        let report: [String: Any] = [
            "voicestyle": voiceStyleVersion, "command": "invert",
            "settings": ["steps": steps, "lr": lr, "id_weight": idWeight, "mse": mse, "w_plus": wPlus, "independent": independent,
                         "seed": seed, "mean_samples": meanSamples, "noise": config.noise, "noise_ramp": config.noiseRamp,
                         "noise_regularize": config.noiseRegularize, "latent_std": Double(std)],
            "checkpoints": checkpoints, "images": imageReports, "runs": runs,
        ]
        let json = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: outURL.appendingPathComponent("report.json"), options: .atomic)
        print("inverted \(imageReports.count) of \(images.count) image(s) into \(out)")
    }
}
