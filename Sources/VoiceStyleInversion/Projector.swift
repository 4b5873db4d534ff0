// Follows voicestyle generation/projector.py `project2latent` (rosinality projector.py + the IR-SE50 identity
// loss): Adam over a W or W+ latent and the noise maps, LPIPS + identity + noise regularisation.
import Foundation
import VoiceStyleEngine
import VoiceStyleModels

/// Projector settings; defaults equal voicestyle's `project2latent` (steps 300 as the pipeline calls it;
/// rosinality's CLI default is 1000; peak learning rate 0.1, latent noise 0.05 ramped to 0 at 75 %, noise
/// regulariser ×1e5).
public struct ProjectorConfig: Sendable, Codable, Equatable, LatentOptimizationSettings {
    public var schedule = OptimizationSchedule(steps: 300, learningRate: 0.1)
    /// Weight of the LPIPS-VGG16 term (1 in voicestyle; 0 leaves LPIPS out and its files unread).
    public var perceptualWeight = 1.0
    /// Weight of the pixel MSE (0 in voicestyle).
    public var mse = 0.0
    /// Weight of the IR-SE50 identity loss (1 in voicestyle; 0 disables it).
    public var identityWeight = 1.0
    /// Optimise a latent per generator layer (W+) instead of one W.
    public var wPlus = false
    /// z samples for the W mean and σ.
    public var meanLatentSamples = 10_000

    public init() {}

    enum CodingKeys: String, CodingKey { case schedule, perceptualWeight, mse, identityWeight, wPlus, meanLatentSamples }
    /// Decodes stored settings; those written before `perceptualWeight` existed had LPIPS at weight 1.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schedule = try c.decode(OptimizationSchedule.self, forKey: .schedule)
        perceptualWeight = try c.decodeIfPresent(Double.self, forKey: .perceptualWeight) ?? 1
        mse = try c.decode(Double.self, forKey: .mse)
        identityWeight = try c.decode(Double.self, forKey: .identityWeight)
        wPlus = try c.decode(Bool.self, forKey: .wPlus)
        meanLatentSamples = try c.decode(Int.self, forKey: .meanLatentSamples)
    }

    /// Whether LPIPS takes part (its VGG16 and lin files are needed).
    public var usesLPIPS: Bool { perceptualWeight != 0 }
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

    /// The projector's terms of a loop step.
    public init(_ s: OptimizationStep) {
        self.init(step: s.step, learningRate: s.learningRate, noiseStrength: s.noiseStrength, perceptual: s.term("perceptual"),
                  identity: s.term("identity"), noiseRegularization: s.term("noise"), mse: s.term("mse"), total: s.total)
    }

    public init(step: Int, learningRate: Double, noiseStrength: Double, perceptual: Double, identity: Double, noiseRegularization: Double,
                mse: Double, total: Double) {
        self.step = step; self.learningRate = learningRate; self.noiseStrength = noiseStrength; self.perceptual = perceptual
        self.identity = identity; self.noiseRegularization = noiseRegularization; self.mse = mse; self.total = total
    }
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

/// GAN inversion: finds the latents and noise maps whose image matches each target (any generator family; the
/// DCGAN adds its prior term on z).
public final class Projector {
    public let generator: any FaceGenerator
    /// LPIPS, or nil when the settings leave it out (`perceptualWeight` 0).
    public let lpips: LPIPS?
    public let identity: IdentityLoss?

    public init(generator: any FaceGenerator, lpips: LPIPS?, identity: IdentityLoss?) {
        self.generator = generator
        self.lpips = lpips
        self.identity = identity
    }

    /// Mean W and σ of `count` mapped z (`latentStatistics(generator:count:using:)`).
    public func latentStatistics(count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float) {
        VoiceStyleInversion.latentStatistics(generator: generator, count: count, using: &rng)
    }

    /// Projects `targets` [B, 3, S, S] (S = the generator's `lossSize`, images in [-1, 1]) jointly, as one
    /// batch (upstream). `onStep` sees each step's losses; `afterUpdate` the latent and noise maps after each
    /// Adam step (their `.grad` still holds that step's gradient). Throws when a loss turns NaN or infinite.
    public func project<R: ProjectorRandomness>(_ targets: Tensor<Float>, config: ProjectorConfig, latentMean: Tensor<Float>,
                                                latentStd: Float, randomness: inout R,
                                                onStep: (ProjectorStep) -> Void = { _ in },
                                                afterUpdate: (_ step: Int, _ latent: Tensor<Float>, _ noises: [Tensor<Float>]) -> Void = { _, _, _ in })
        throws -> ProjectionResult {
        let g = generator
        let size = g.lossSize
        guard targets.rank == 4, targets.shape[1] == 3, targets.shape[2] == size, targets.shape[3] == size else {
            throw ProjectorError.targetShape(targets.shape, expected: size)
        }
        let b = targets.shape[0]
        let (targetLPIPS, targetID) = withoutGradients { (lpips.map { $0.normalizedFeatures(targets) }, identity.map { $0.features(targets) }) }
        let noises = randomness.initialNoise(shapes: g.noiseShapes(batch: b))
        let mean = latentMean.reshaped([1, g.latentDim])
        let latentIn = config.wPlus && g.latentLayers > 1 ? mean.reshaped([1, 1, g.latentDim]).repeated([b, g.latentLayers, 1]) : mean.repeated([b, 1])
        var terms: [LossTerm] = []
        if let lpips, let targetLPIPS, config.perceptualWeight != 0 {
            terms.append(LossTerm("perceptual", weight: config.perceptualWeight) { lpips.distance($0.image, target: targetLPIPS).sum() })
        }
        if let identity, let targetID, config.identityWeight != 0 {
            terms.append(LossTerm("identity", weight: config.identityWeight) { identity($0.image, targetFeatures: targetID) })
        }
        terms.append(.noiseRegularization(weight: config.noiseRegularize))
        terms.append(LossTerm("mse", weight: config.mse) { ($0.image - targets).square().mean() })
        if g.priorWeight != 0 { terms.append(LossTerm("prior", weight: g.priorWeight) { g.prior($0.latent) }) }
        let result = try optimizeLatent(generator: generator, latent: latentIn, noises: noises, schedule: config.schedule, terms: terms,
                                        randomness: &randomness, latentStd: latentStd, prepare: { g.lossImage($0) },
                                        onStep: { onStep(ProjectorStep($0)) }, afterUpdate: afterUpdate)
        return ProjectionResult(latent: result.latent, noises: result.noises, steps: result.steps.map(ProjectorStep.init))
    }
}
