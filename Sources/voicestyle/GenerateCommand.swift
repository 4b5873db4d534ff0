// `voicestyle generate` (GenerateRequest): images from a generator checkpoint (StyleGAN2 or the face DCGAN) for random or given latents.
import ArgumentParser
import Foundation
import VoiceStyle

extension GenerateRequest.NoiseMode: ExpressibleByArgument {}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate faces with a generator checkpoint (rosinality StyleGAN2, e.g. 550000.pt, or the face DCGAN dcgan-faces-64.pth).",
        discussion: """
            Latents: random z from --seed (default), or --z / --w / --w-plus .npy files ([B, style_dim], or \
            [B, n_latent, style_dim] for W+; the DCGAN takes z only, [B, 100]). Images follow upstream's make_image (clamp to [-1, 1], (x+1)/2·255, \
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
    var noiseMode: GenerateRequest.NoiseMode = .random

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
    }

    func run() throws {
        var request = GenerateRequest(checkpoint: checkpoint)
        (request.seed, request.count, request.truncation, request.truncationMean) = (seed, count, truncation, truncationMean)
        (request.noise, request.noiseMode, request.batch, request.lrMLP) = (noise, noiseMode, batch, lrMLP)
        if let z { (request.latents, request.latentKind) = (z, .z) }
        if let w { (request.latents, request.latentKind) = (w, .w) }
        if let wPlus { (request.latents, request.latentKind) = (wPlus, .wPlus) }
        let single = out.lowercased().hasSuffix(".png")
        if single && !grid && request.latents == nil && count > 1 {
            throw ValidationError("\(count) samples and --out is one .png file: add --grid, or give a folder")
        }
        let generated = try request.run(in: JobContext { e in FileHandle.standardError.write(Data("generated \(e.done)/\(e.total)\n".utf8)) })
        let (images, tensor) = (generated.images, generated.tensor)
        let outURL = URL(fileURLWithPath: out)
        if single {
            guard grid || images.count == 1 else {
                throw ValidationError("\(images.count) samples and --out is one .png file: add --grid, or give a folder")
            }
            try PNGCodec.encode(grid ? ImageTensors.grid(images) : images[0]).writeOutput(to: outURL)
            print("wrote \(out)")
        } else {
            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            for (i, img) in images.enumerated() {
                try PNGCodec.encode(img).writeOutput(to: outURL.appendingPathComponent(String(format: "%06d.png", i)))
            }
            if grid { try PNGCodec.encode(ImageTensors.grid(images)).writeOutput(to: outURL.appendingPathComponent("grid.png")) }
            print("wrote \(images.count) image(s) to \(out)")
        }
        if let outTensor {
            try NumPyFile.npyData(StoredTensor(tensor)).writeOutput(to: URL(fileURLWithPath: outTensor))
            print("wrote \(outTensor)")
        }
    }
}
