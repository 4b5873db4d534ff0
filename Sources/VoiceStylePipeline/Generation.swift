// Follows rosinality/stylegan2-pytorch generate.py (random z → g_ema → make_image) as a job: images for
// random or given latents, batched without changing any output.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleModels

/// `generate`: faces from a generator checkpoint (StyleGAN2: z, W or W+, noise, truncation; the face DCGAN: z only).
public struct GenerateRequest: Codable, Sendable, Equatable {
    public enum Latents: String, Codable, Sendable { case z, w, wPlus }
    public enum NoiseMode: String, Codable, Sendable, CaseIterable { case random, const, zero }
    public var checkpoint: String
    /// Seed of random z and random noise maps.
    public var seed: UInt64 = 0
    /// Random samples (when no latents file is given).
    public var count = 1
    /// A .npy of latents ([B, D] for z and W, [B, n_latent, D] for W+) and which kind they are.
    public var latents: String?
    public var latentKind = Latents.z
    /// Truncation ψ (1 = none) towards the checkpoint's latent_avg, else the mean of `truncationMean` mapped z.
    public var truncation: Float = 1
    public var truncationMean = 4096
    /// Noise maps (.npz or .safetensors with noise_0 …), else `noiseMode`.
    public var noise: String?
    public var noiseMode = NoiseMode.random
    /// Samples generated together (memory grows with it; outputs never depend on it).
    public var batch = 4
    /// Learning-rate multiplier of the mapping network (not stored in checkpoints).
    public var lrMLP: Float = 0.01

    public init(checkpoint: String) { self.checkpoint = checkpoint }

    public func validate() throws {
        try Check.file("checkpoint", checkpoint)
        try Check.range("count", count, 1...100_000)
        try Check.range("batch", batch, 1...1024)
        guard truncation.isFinite, truncation > 0, truncation <= 1 else { throw JobError(field: "truncation", "must be in (0, 1] (got \(truncation))") }
        guard lrMLP.isFinite, lrMLP > 0 else { throw JobError(field: "lrMLP", "must be a finite number > 0 (got \(lrMLP))") }
        if noise != nil && noiseMode != .random { throw JobError("give either {noise} or {noiseMode}, not both") }
        if let latents { try Check.file(latentKind == .wPlus ? "wPlus" : latentKind.rawValue, latents) }
        if let noise { try Check.file("noise", noise) }
    }
}

extension Jobs {
    /// Generates images [B, 3, S, S] for the request; random noise is drawn per sample (seed + 1 + sample), so the
    /// batch size never changes an output.
    public static func generate(_ request: GenerateRequest, progress: JobProgress = { _ in }) throws -> (images: [RGBImage], tensor: Tensor<Float>) {
        try request.validate()
        let checkpoint = try Checkpoint.open(URL(fileURLWithPath: request.checkpoint))
        if GeneratorFamily.of(checkpoint) == .dcgan { return try generateDCGAN(request, DCGANGenerator(checkpoint: checkpoint), progress: progress) }
        let g = try StyleGAN2Generator(checkpoint: checkpoint, lrMLP: request.lrMLP)
        let d = g.config.styleDim, n = g.config.latentCount
        var styles: Tensor<Float>
        if let path = request.latents {
            styles = try NumPyFile.readNpy(URL(fileURLWithPath: path)).tensor(Float.self)
            let plus = request.latentKind == .wPlus
            guard plus ? (styles.rank == 3 && styles.shape[1] == n && styles.shape[2] == d) : (styles.rank == 2 && styles.shape[1] == d),
                  styles.shape[0] >= 1 else {
                throw Self.latentShapeError(path, styles.shape, expected: plus ? "[B ≥ 1, \(n), \(d)]" : "[B ≥ 1, \(d)]", family: .stylegan2)
            }
        } else {
            var rng = SeededGenerator(seed: request.seed)
            styles = Tensor.randomNormal([request.count, d], using: &rng)
        }
        guard styles.buffer.allSatisfy(\.isFinite) else { throw JobError("\(request.latents ?? "the latents") hold NaN or infinite values") }
        let isLatent = request.latents != nil && request.latentKind != .z
        var truncationLatent: Tensor<Float>? = nil
        if request.truncation < 1 && g.latentAverage == nil {
            var rng = SeededGenerator(seed: request.seed &+ 0x5EED)
            truncationLatent = g.meanLatent(count: request.truncationMean, using: &rng)
        }
        let noiseMaps = try request.noise.map { path in
            let ckpt = try Checkpoint.open(URL(fileURLWithPath: path))
            let maps = try (0..<g.config.noiseCount).map { try ckpt.floatTensor(at: "noise_\($0)") }
            guard maps.allSatisfy({ $0.buffer.allSatisfy(\.isFinite) }) else { throw JobError(field: "noise", "\(path) holds NaN or infinite values") }
            if let m = maps.first(where: { $0.rank != 4 || ($0.shape[0] != 1 && $0.shape[0] != styles.shape[0]) }) {
                throw JobError(field: "noise", "\(path) has a map of shape \(m.shape); each must be [1 or \(styles.shape[0]), 1, R, R]")
            }
            return maps
        }
        let total = styles.shape[0]
        var images: [RGBImage] = [], outputs: [Tensor<Float>] = []
        var start = 0
        while start < total {
            let end = min(total, start + request.batch)
            let source: GeneratorNoise
            if let maps = noiseMaps {
                source = .given(maps.map { $0.shape[0] == 1 ? $0 : $0.slice(axis: 0, start, end) })
            } else {
                switch request.noiseMode {
                case .random:
                    let perSample = try (start..<end).map { try g.noise(.random(seed: request.seed &+ 1 &+ UInt64($0)), batch: 1) }
                    source = .given((0..<g.config.noiseCount).map { i in Tensor.concat(perSample.map { $0[i] }, axis: 0) })
                case .const: source = .stored
                case .zero: source = .zero
                }
            }
            let part = styles.slice(axis: 0, start, end)
            let image = try withoutGradients {
                try g([part], inputIsLatent: isLatent, noise: source, truncation: request.truncation, truncationLatent: truncationLatent).image
            }
            guard image.buffer.allSatisfy(\.isFinite) else {
                throw JobError("the generator \(request.checkpoint) produced NaN or infinite pixels (are its weights finite?)")
            }
            images += ImageTensors.images(image)
            outputs.append(image)
            progress(JobEvent(stage: "generate", done: end, total: total))
            start = end
        }
        return (images, Tensor.concat(outputs, axis: 0))
    }
}

extension Jobs {
    /// The face DCGAN's images: z ~ N(0, I) drawn per sample (seed + sample), or the z of a .npy [B, D]; W, W+,
    /// noise maps and truncation belong to StyleGAN2 and are refused.
    static func generateDCGAN(_ request: GenerateRequest, _ g: DCGANGenerator, progress: JobProgress) throws -> (images: [RGBImage], tensor: Tensor<Float>) {
        guard request.latentKind == .z else { throw JobError(field: request.latentKind == .wPlus ? "wPlus" : "w", "is a StyleGAN2 latent; the DCGAN \(request.checkpoint) takes z only") }
        guard request.noise == nil, request.noiseMode == .random else { throw JobError("the DCGAN \(request.checkpoint) has no noise maps: leave out {noise} and {noiseMode}") }
        guard request.truncation == 1 else { throw JobError(field: "truncation", "applies to StyleGAN2; the DCGAN \(request.checkpoint) has none") }
        let d = g.latentDim
        var z: Tensor<Float>
        if let path = request.latents {
            z = try NumPyFile.readNpy(URL(fileURLWithPath: path)).tensor(Float.self)
            if z.rank == 4, z.shape[2] == 1, z.shape[3] == 1 { z = z.reshaped([z.shape[0], z.shape[1]]) }
            guard z.rank == 2, z.shape[1] == d, z.shape[0] >= 1 else { throw latentShapeError(path, z.shape, expected: "[B ≥ 1, \(d)]", family: .dcgan) }
            guard z.buffer.allSatisfy(\.isFinite) else { throw JobError("\(path) holds NaN or infinite values") }
        } else {
            z = Tensor.concat((0..<request.count).map { i -> Tensor<Float> in
                var rng = SeededGenerator(seed: request.seed &+ UInt64(i))
                return g.sampleLatent(batch: 1, using: &rng)
            }, axis: 0)
        }
        var images: [RGBImage] = [], outputs: [Tensor<Float>] = []
        var start = 0
        while start < z.shape[0] {
            let end = min(z.shape[0], start + request.batch)
            let image = withoutGradients { g(z.slice(axis: 0, start, end)) }
            images += ImageTensors.images(image)
            outputs.append(image)
            progress(JobEvent(stage: "generate", done: end, total: z.shape[0]))
            start = end
        }
        return (images, Tensor.concat(outputs, axis: 0))
    }

    /// A latent file of the wrong shape, in one sentence that names the family it seems to belong to.
    static func latentShapeError(_ path: String, _ shape: [Int], expected: String, family: GeneratorFamily) -> JobError {
        let other: String
        switch (family, shape.last) {
        case (.dcgan, 512?): other = " (a StyleGAN2 W latent: it cannot drive the DCGAN)"
        case (.stylegan2, 100?): other = " (a DCGAN z: it cannot drive StyleGAN2)"
        default: other = ""
        }
        return JobError("\(path) has shape \(shape)\(other); the \(family.rawValue) generator takes \(expected)")
    }
}
