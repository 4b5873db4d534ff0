// Follows voicestyle generation/projector.py `project2latent` (rosinality projector.py + the IR-SE50 identity
// loss): Adam over a W or W+ latent and the noise maps, LPIPS + identity + noise regularisation.
import Foundation
import VoiceStyleEngine
import VoiceStyleModels

/// Projector settings; defaults equal voicestyle's `project2latent` (steps 300 as the pipeline calls it;
/// rosinality's CLI default is 1000).
public struct ProjectorConfig: Sendable, Equatable {
    /// Optimisation steps.
    public var steps = 300
    /// Peak Adam learning rate (warm-up over the first 5 %, cosine decay over the last 25 %: `get_lr`).
    public var learningRate = 0.1
    /// Latent noise: strength σ_W·noise·max(0, 1 − t/noiseRamp)².
    public var noise = 0.05
    public var noiseRamp = 0.75
    /// Weight of the noise-map regulariser.
    public var noiseRegularize = 1e5
    /// Weight of the pixel MSE (0 in voicestyle).
    public var mse = 0.0
    /// Weight of the IR-SE50 identity loss (1 in voicestyle; 0 disables it).
    public var identityWeight = 1.0
    /// Optimise a latent per generator layer (W+) instead of one W.
    public var wPlus = false
    /// z samples for the W mean and σ.
    public var meanLatentSamples = 10_000

    public init() {}
}

/// The randomness of a projection run; replaceable so that upstream runs can be replayed exactly.
public protocol ProjectorRandomness {
    /// Initial noise maps, one per generator layer, each [B, 1, R, R].
    mutating func initialNoise(shapes: [[Int]]) -> [Tensor<Float>]
    /// The N(0,1) latent perturbation of step `step`, shaped like the latent.
    mutating func latentNoise(step: Int, shape: [Int]) -> Tensor<Float>
}

/// Seeded N(0,1) randomness (upstream draws unseeded).
public struct SeededProjectorRandomness: ProjectorRandomness {
    var rng: SeededGenerator
    public init(seed: UInt64) { rng = SeededGenerator(seed: seed) }
    public mutating func initialNoise(shapes: [[Int]]) -> [Tensor<Float>] { shapes.map { Tensor.randomNormal($0, using: &rng) } }
    public mutating func latentNoise(step: Int, shape: [Int]) -> Tensor<Float> { Tensor.randomNormal(shape, using: &rng) }
}

/// Loss terms and schedule values of one projector step (values before the update).
public struct ProjectorStep: Sendable, Codable, Equatable {
    public var step: Int
    public var learningRate: Double
    public var noiseStrength: Double
    public var perceptual: Double
    public var identity: Double
    public var noiseRegularization: Double
    public var mse: Double
    public var total: Double
}

/// The outcome of a projection: the optimised latent ([B, D] for W, [B, n_latent, D] for W+), noise maps and
/// the per-step log.
public struct ProjectionResult {
    public var latent: Tensor<Float>
    public var noises: [Tensor<Float>]
    public var steps: [ProjectorStep]
}

/// Why a projection stopped.
public enum ProjectorError: Error, CustomStringConvertible, Equatable {
    case targetShape([Int], expected: Int)
    case nonFinite(step: Int, term: String)

    public var description: String {
        switch self {
        case let .targetShape(s, e): "targets of shape \(s): expected [B, 3, \(e), \(e)] in [-1, 1] (the generator's resolution, at most 256)"
        case let .nonFinite(step, term): "the \(term) loss became NaN or infinite at step \(step); the projection stopped (try a lower learning rate)"
        }
    }
}

/// GAN inversion: finds the latents and noise maps whose image matches each target.
public final class Projector {
    public let generator: StyleGAN2Generator
    public let lpips: LPIPS
    public let identity: IdentityLoss?

    public init(generator: StyleGAN2Generator, lpips: LPIPS, identity: IdentityLoss?) {
        self.generator = generator
        self.lpips = lpips
        self.identity = identity
    }

    /// Mean W and the scalar σ of `count` mapped z: σ = √(Σ_{n,d} (w − mean)² / count) (upstream L125–131).
    public func latentStatistics(count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float) {
        withoutGradients {
            let w = generator.map(Tensor.randomNormal([count, generator.config.styleDim], using: &rng))
            let mean = w.mean(axes: [0])
            let std = ((w - mean).square().sum() / Float(count)).sqrt().item
            return (mean, std)
        }
    }

    /// Projects `targets` [B, 3, S, S] (S = the generator's resolution, images in [-1, 1]) jointly, as one
    /// batch (upstream). `onStep` sees each step's losses; `afterUpdate` the latent and noise maps after each
    /// Adam step (their `.grad` still holds that step's gradient). Throws when a loss turns NaN or infinite.
    public func project<R: ProjectorRandomness>(_ targets: Tensor<Float>, config: ProjectorConfig, latentMean: Tensor<Float>,
                                                latentStd: Float, randomness: inout R,
                                                onStep: (ProjectorStep) -> Void = { _ in },
                                                afterUpdate: (_ step: Int, _ latent: Tensor<Float>, _ noises: [Tensor<Float>]) -> Void = { _, _, _ in })
        throws -> ProjectionResult {
        let g = generator.config
        let size = min(g.size, 256)
        guard targets.rank == 4, targets.shape[1] == 3, targets.shape[2] == size, targets.shape[3] == size else {
            throw ProjectorError.targetShape(targets.shape, expected: size)
        }
        let b = targets.shape[0]
        let (targetLPIPS, targetID) = withoutGradients { (lpips.normalizedFeatures(targets), identity.map { $0.features(targets) }) }
        let noises = randomness.initialNoise(shapes: (0..<g.noiseCount).map { [b, 1, g.noiseResolution($0), g.noiseResolution($0)] })
        for n in noises { n.requiresGrad = true }
        let mean = latentMean.reshaped([1, g.styleDim])
        let latentIn = (config.wPlus ? mean.reshaped([1, 1, g.styleDim]).repeated([b, g.latentCount, 1]) : mean.repeated([b, 1])).detached()
        latentIn.requiresGrad = true
        let optimizer = Adam([latentIn] + noises, config: AdamConfig(learningRate: config.learningRate))
        var log: [ProjectorStep] = []
        for i in 0..<config.steps {
            let t = Double(i) / Double(config.steps)
            optimizer.learningRate = ProjectorFunctions.learningRate(t: t, initial: config.learningRate)
            let strength = ProjectorFunctions.noiseStrength(t: t, latentStd: latentStd, noise: config.noise, noiseRamp: config.noiseRamp)
            let latentN = latentIn + randomness.latentNoise(step: i, shape: latentIn.shape) * strength
            var image = generator.synthesize(try generator.latents([latentN], inputIsLatent: true), noise: noises)
            if g.size > 256 {
                // Upstream: mean-pool generators above 256 px down to 256.
                let f = g.size / 256
                image = image.reshaped([b, 3, 256, f, 256, f]).mean(axes: [3, 5])
            }
            let perceptual = lpips.distance(image, target: targetLPIPS).sum()
            var loss = perceptual
            var idValue = 0.0
            if let identity, let targetID, config.identityWeight != 0 {
                let id = identity(image, targetFeatures: targetID)
                idValue = Double(id.item)
                loss = loss + id * Float(config.identityWeight)
            }
            let nLoss = ProjectorFunctions.noiseRegularize(noises)
            loss = loss + nLoss * Float(config.noiseRegularize)
            let mse: Double
            if config.mse != 0 {
                let m = (image - targets).square().mean()
                mse = Double(m.item)
                loss = loss + m * Float(config.mse)
            } else {
                mse = withoutGradients { Double((image - targets).square().mean().item) }
            }
            let entry = ProjectorStep(step: i, learningRate: optimizer.learningRate, noiseStrength: Double(strength),
                                      perceptual: Double(perceptual.item), identity: idValue,
                                      noiseRegularization: Double(nLoss.item), mse: mse, total: Double(loss.item))
            for (term, v) in [("perceptual", entry.perceptual), ("identity", entry.identity), ("noise", entry.noiseRegularization), ("total", entry.total)]
            where !v.isFinite { throw ProjectorError.nonFinite(step: i, term: term) }
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            ProjectorFunctions.noiseNormalize(noises)
            log.append(entry)
            onStep(entry)
            afterUpdate(i, latentIn, noises)  // gradients of this step are still in .grad
        }
        for n in noises { n.requiresGrad = false; n.grad = nil }
        latentIn.requiresGrad = false
        latentIn.grad = nil
        return ProjectionResult(latent: latentIn, noises: noises, steps: log)
    }
}
