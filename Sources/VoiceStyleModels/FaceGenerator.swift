// No single upstream file: the generator families voicestyle optimises through (rosinality model.py `Generator`,
// as voicestyle's projector and pipeline drive it; gan-face-generate 1.1.1 models.py `Generator`, the PyTorch
// DCGAN tutorial's) behind one protocol, so that inversion, refinement, caches and front-ends take either.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// A family of generators: how its latent is shaped and drawn.
public enum GeneratorFamily: String, Codable, Sendable, CaseIterable {
    /// StyleGAN2 (rosinality): W (or W+, one per layer) through the mapping network, noise maps.
    case stylegan2
    /// DCGAN: z ~ N(0, I), no noise maps.
    case dcgan

    /// The latent's name in words ("W" / "z").
    public var latentName: String { self == .stylegan2 ? "W" : "z" }

    /// The family of a checkpoint, from its keys (DCGAN: `main.0.weight` … `main.12.weight`, at the root or in
    /// `netG_state_dict`; else StyleGAN2, whose loader reports what does not fit).
    public static func of(_ checkpoint: Checkpoint) -> GeneratorFamily {
        DCGANGenerator.recognizes(checkpoint) ? .dcgan : .stylegan2
    }
}

/// A face generator as the optimisation loop, the caches and the front-ends see it.
public protocol FaceGenerator: AnyObject {
    var family: GeneratorFamily { get }
    /// Side of the images it makes, in pixels.
    var outputSize: Int { get }
    /// Width D of a latent (StyleGAN2: W's 512; DCGAN: z's 100).
    var latentDim: Int { get }
    /// Rows of a per-layer latent (StyleGAN2's W+: n_latent); 1 where the family has none.
    var latentLayers: Int { get }
    /// Shapes of the noise maps for a batch of `batch` (none for DCGAN).
    func noiseShapes(batch: Int) -> [[Int]]
    /// Images [B, 3, S, S] (about [-1, 1]) from latents [B, D] (or [B, latentLayers, D]) and noise maps; recorded
    /// on the tape, so gradients reach the latent and the maps.
    func render(_ latent: Tensor<Float>, noises: [Tensor<Float>]) throws -> Tensor<Float>
    /// Mean latent [D] and the scalar σ = √(Σ_{n,d} (w − mean)² / count) of `count` samples of the prior
    /// (StyleGAN2: mapped z, upstream projector.py L125–131; DCGAN: exactly 0 and √D, needing no samples).
    func latentStatistics(count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float)
    /// Side of the images the loss networks (LPIPS, IR-SE50, CMPC) compare: StyleGAN2 min(S, 256) (upstream
    /// pools larger images to 256); DCGAN 256 (its 64-px images are upsampled, as upstream resizes 1024 → 256).
    var lossSize: Int { get }
    /// A rendered image as the loss networks take it: [B, 3, lossSize, lossSize].
    func lossImage(_ image: Tensor<Float>) -> Tensor<Float>
    /// Weight of the prior term on the latent in inversion and refinement: StyleGAN2 0 (upstream has none; its
    /// W stays near the mapped distribution through the latent noise); DCGAN `DCGANGenerator.priorWeight`.
    var priorWeight: Double { get }
    /// The prior term (unweighted): DCGAN (‖z‖² / D − 1)², which keeps z on the shell where N(0, I) samples lie.
    func prior(_ latent: Tensor<Float>) -> Tensor<Float>
    /// The aggregate of prototype latents from their weighted mean: StyleGAN2 the mean itself (upstream); DCGAN
    /// the mean rescaled to √D, the norm of a typical z (a mean of k samples has norm ≈ √(D/k), a blurred face).
    func aggregate(_ mean: Tensor<Float>) -> Tensor<Float>
}

extension StyleGAN2Generator: FaceGenerator {
    public var family: GeneratorFamily { .stylegan2 }
    public var outputSize: Int { config.size }
    public var latentDim: Int { config.styleDim }
    public var latentLayers: Int { config.latentCount }
    public func noiseShapes(batch: Int) -> [[Int]] {
        (0..<config.noiseCount).map { [batch, 1, config.noiseResolution($0), config.noiseResolution($0)] }
    }
    public func render(_ latent: Tensor<Float>, noises: [Tensor<Float>]) throws -> Tensor<Float> {
        synthesize(try latents([latent], inputIsLatent: true), noise: noises)
    }
    public func latentStatistics(count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float) {
        withoutGradients {
            let w = map(Tensor.randomNormal([count, config.styleDim], using: &rng))
            let mean = w.mean(axes: [0])
            let std = ((w - mean).square().sum() / Float(count)).sqrt().item
            return (mean, std)
        }
    }
    public var lossSize: Int { min(config.size, 256) }
    public func lossImage(_ image: Tensor<Float>) -> Tensor<Float> {
        // Upstream mean-pools generators above 256 px down to 256.
        guard config.size > 256 else { return image }
        let f = config.size / 256, b = image.shape[0]
        return image.reshaped([b, 3, 256, f, 256, f]).mean(axes: [3, 5])
    }
    public var priorWeight: Double { 0 }
    public func prior(_ latent: Tensor<Float>) -> Tensor<Float> { Tensor<Float>(scalar: 0) }
    public func aggregate(_ mean: Tensor<Float>) -> Tensor<Float> { mean }
}

extension DCGANGenerator: FaceGenerator {
    /// Weight of the prior term (‖z‖²/D − 1)² in inversion and refinement.
    public static let priorWeight = 0.1

    public var family: GeneratorFamily { .dcgan }
    public var outputSize: Int { config.size }
    public var latentDim: Int { config.latentDim }
    public var latentLayers: Int { 1 }
    public func noiseShapes(batch: Int) -> [[Int]] { [] }
    public func render(_ latent: Tensor<Float>, noises: [Tensor<Float>]) throws -> Tensor<Float> { self(latent) }
    public func latentStatistics(count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float) {
        (Tensor(zeros: [config.latentDim]), Float(config.latentDim).squareRoot())
    }
    public var lossSize: Int { 256 }
    /// Bilinear 4× (or 256/S×) upsampling by zero-stuffing and a triangle filter (upfirdn2d; differentiable).
    public func lossImage(_ image: Tensor<Float>) -> Tensor<Float> {
        let up = 256 / config.size
        guard up > 1 else { return image }
        let tri = (1...(2 * up - 1)).map { Float(up - abs($0 - up)) / Float(up) }
        let k = Tensor(shape: [tri.count, tri.count], scalars: tri.flatMap { a in tri.map { a * $0 } })
        let p = up - 1  // (S·up + 2p − (2up − 1) + 1) = 256 → p0 + p1 = 2up − 2
        return image.upfirdn2d(kernel: k, up: (up, up), pad: UpFirDnPadding(p, p))
    }
    public var priorWeight: Double { Self.priorWeight }
    public func prior(_ latent: Tensor<Float>) -> Tensor<Float> {
        (latent.square().mean() - 1).square().reshaped([1])
    }
    public func aggregate(_ mean: Tensor<Float>) -> Tensor<Float> {
        let norm = mean.square().sum().sqrt().item
        guard norm > 0, norm.isFinite else { return mean }
        return mean * (Float(config.latentDim).squareRoot() / norm)
    }
}
