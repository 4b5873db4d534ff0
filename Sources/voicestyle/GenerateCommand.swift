// `voicestyle generate`: images from a StyleGAN2 checkpoint for random or given latents.
import ArgumentParser
import Foundation
import VoiceStyle

enum NoiseModeOption: String, ExpressibleByArgument, CaseIterable {
    case random, const, zero
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate faces with a StyleGAN2 checkpoint (rosinality layout, e.g. 550000.pt).",
        discussion: """
            Latents: random z from --seed (default), or --z / --w / --w-plus .npy files ([B, style_dim], or \
            [B, n_latent, style_dim] for W+). Images follow upstream's make_image (clamp to [-1, 1], (x+1)/2·255, \
            truncate) and are written as PNG: one file when --out ends in .png (with --grid, or one sample), \
            otherwise one file per sample in the --out folder. Same inputs and seed give identical files.
            """)

    @Option(help: "Generator checkpoint (.pt/.pth train or convert dict, bare state dict, or safetensors).", completion: .file())
    var checkpoint: String

    @Option(help: "Seed for random z and random noise maps.")
    var seed: UInt64 = 0

    @Option(help: "Number of random samples (ignored when latents are given).")
    var count: Int = 1

    @Option(help: "z latents, .npy [B, style_dim].", completion: .file(extensions: ["npy"]))
    var z: String?

    @Option(help: "W latents, .npy [B, style_dim].", completion: .file(extensions: ["npy"]))
    var w: String?

    @Option(name: .customLong("w-plus"), help: "W+ latents, .npy [B, n_latent, style_dim].", completion: .file(extensions: ["npy"]))
    var wPlus: String?

    @Option(help: "Truncation ψ (1 = none). Uses the checkpoint's latent_avg, else the mean of --truncation-mean mapped z.")
    var truncation: Float = 1

    @Option(help: "Samples of z averaged for the truncation latent when the checkpoint has no latent_avg.")
    var truncationMean: Int = 4096

    @Option(help: "Noise maps: .npz or .safetensors with noise_0 … noise_{L-1}, each [B or 1, 1, R, R].", completion: .file())
    var noise: String?

    @Option(help: "Noise when no --noise file is given: random (seeded), const (the checkpoint's stored buffers), zero.")
    var noiseMode: NoiseModeOption = .random

    @Option(help: "Output: a .png file or a folder.", completion: .file())
    var out: String

    @Flag(help: "Write all samples as one grid picture.")
    var grid = false

    @Option(help: "Also write the raw float32 NCHW output as .npy.", completion: .file(extensions: ["npy"]))
    var outTensor: String?

    @Option(help: "Samples generated together (memory grows with it).")
    var batch: Int = 4

    @Option(help: "Learning-rate multiplier of the mapping network (not stored in checkpoints).")
    var lrMLP: Float = 0.01

    func validate() throws {
        guard [z, w, wPlus].compactMap({ $0 }).count <= 1 else { throw ValidationError("give at most one of --z, --w, --w-plus") }
        guard count >= 1, batch >= 1 else { throw ValidationError("--count and --batch must be at least 1") }
        guard truncation > 0 && truncation <= 1 else { throw ValidationError("--truncation must be in (0, 1]") }
        if noise != nil && noiseMode != .random { throw ValidationError("give either --noise or --noise-mode, not both") }
    }

    func run() throws {
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(URL(fileURLWithPath: checkpoint)), lrMLP: lrMLP)
        let d = g.config.styleDim, n = g.config.latentCount
        // Inputs.
        var styles: Tensor<Float>
        var isLatent = true
        if let path = z ?? w ?? wPlus {
            styles = try NumPyFile.readNpy(URL(fileURLWithPath: path)).tensor(Float.self)
            isLatent = z == nil
            let ok = wPlus != nil ? (styles.rank == 3 && styles.shape[1] == n && styles.shape[2] == d) : (styles.rank == 2 && styles.shape[1] == d)
            guard ok else {
                throw ValidationError("\(path) has shape \(styles.shape); expected " + (wPlus != nil ? "[B, \(n), \(d)]" : "[B, \(d)]"))
            }
        } else {
            var rng = SeededGenerator(seed: seed)
            styles = Tensor.randomNormal([count, d], using: &rng)
            isLatent = false
        }
        let total = styles.shape[0]
        var truncationLatent: Tensor<Float>? = nil
        if truncation < 1 && g.latentAverage == nil {
            var rng = SeededGenerator(seed: seed &+ 0x5EED)
            truncationLatent = g.meanLatent(count: truncationMean, using: &rng)
        }
        var noiseMaps: [Tensor<Float>]? = nil
        if let noise {
            let ckpt = try Checkpoint.open(URL(fileURLWithPath: noise))
            noiseMaps = try (0..<g.config.noiseCount).map { try ckpt.floatTensor(at: "noise_\($0)") }
        }
        // Generate in batches; random noise is drawn per sample, so the batch size never changes the output.
        var images: [RGBImage] = []
        var outputs: [Tensor<Float>] = []
        var start = 0
        while start < total {
            let end = min(total, start + batch)
            let part = styles.slice(axis: 0, start, end)
            let source: GeneratorNoise
            if var maps = noiseMaps {
                maps = maps.map { $0.shape[0] == 1 ? $0 : $0.slice(axis: 0, start, end) }
                source = .given(maps)
            } else {
                switch noiseMode {
                case .random:
                    let perSample = try (start..<end).map { try g.noise(.random(seed: seed &+ 1 &+ UInt64($0)), batch: 1) }
                    source = .given((0..<g.config.noiseCount).map { i in Tensor.concat(perSample.map { $0[i] }, axis: 0) })
                case .const: source = .stored
                case .zero: source = .zero
                }
            }
            let image = try withoutGradients {
                try g([part], inputIsLatent: isLatent, noise: source, truncation: truncation, truncationLatent: truncationLatent).image
            }
            images += ImageTensors.images(image)
            if outTensor != nil { outputs.append(image) }
            FileHandle.standardError.write(Data("generated \(end)/\(total)\n".utf8))
            start = end
        }
        // Outputs.
        let outURL = URL(fileURLWithPath: out)
        if out.lowercased().hasSuffix(".png") {
            guard grid || images.count == 1 else {
                throw ValidationError("\(images.count) samples and --out is one .png file: add --grid, or give a folder")
            }
            try PNGCodec.write(grid ? ImageTensors.grid(images) : images[0], to: outURL)
            print("wrote \(out)")
        } else {
            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            for (i, img) in images.enumerated() {
                try PNGCodec.write(img, to: outURL.appendingPathComponent(String(format: "%06d.png", i)))
            }
            if grid { try PNGCodec.write(ImageTensors.grid(images), to: outURL.appendingPathComponent("grid.png")) }
            print("wrote \(images.count) image(s) to \(out)")
        }
        if let outTensor {
            try NumPyFile.writeNpy(StoredTensor(Tensor.concat(outputs, axis: 0)), to: URL(fileURLWithPath: outTensor))
            print("wrote \(outTensor)")
        }
    }
}
