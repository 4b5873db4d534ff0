// Follows the loop shared by rosinality projector.py (L150–200) and voicestyle generation/pipeline.py `optimize`
// (L60–110): Adam over a latent and the noise maps with get_lr, decaying latent noise, noise_normalize_.
// The projector and the refiner are two sets of loss terms on this one loop.
import Foundation
import VoiceStyleEngine
import VoiceStyleModels

/// The schedule both optimisations share; defaults equal the projector's (upstream `project2latent`).
public struct OptimizationSchedule: Sendable, Codable, Equatable {
    /// Adam steps.
    public var steps: Int
    /// Peak learning rate (warm-up over the first 5 %, cosine decay over the last 25 %: `get_lr`).
    public var learningRate: Double
    /// Latent noise: strength σ_W·noise·max(0, 1 − t/noiseRamp)².
    public var noise = 0.05
    public var noiseRamp = 0.75
    /// Weight of the noise-map regulariser.
    public var noiseRegularize = 1e5

    public init(steps: Int, learningRate: Double) {
        self.steps = steps
        self.learningRate = learningRate
    }
}

/// A settings struct holding an `OptimizationSchedule`; its fields read and write through.
public protocol LatentOptimizationSettings {
    var schedule: OptimizationSchedule { get set }
}

extension LatentOptimizationSettings {
    public var steps: Int { get { schedule.steps } set { schedule.steps = newValue } }
    public var learningRate: Double { get { schedule.learningRate } set { schedule.learningRate = newValue } }
    public var noise: Double { get { schedule.noise } set { schedule.noise = newValue } }
    public var noiseRamp: Double { get { schedule.noiseRamp } set { schedule.noiseRamp = newValue } }
    public var noiseRegularize: Double { get { schedule.noiseRegularize } set { schedule.noiseRegularize = newValue } }
}

/// What a loss term sees at one step.
public struct LossContext {
    /// The generated images [B, 3, S, S] after the loop's `prepare` (resizing, clamping).
    public let image: Tensor<Float>
    /// The optimised latent and the latent with this step's noise added (what the generator saw).
    public let latent: Tensor<Float>, noisyLatent: Tensor<Float>
    /// The optimised noise maps.
    public let noises: [Tensor<Float>]
}

/// One term of the loss: `weight × compute(context)`, summed in the order the terms are given (the order
/// fixes float32 rounding, which the replays of upstream depend on). A term of weight 0 is evaluated
/// without gradients for the log only.
public struct LossTerm {
    public let name: String
    public let weight: Double
    public let compute: (LossContext) -> Tensor<Float>

    public init(_ name: String, weight: Double = 1, _ compute: @escaping (LossContext) -> Tensor<Float>) {
        self.name = name
        self.weight = weight
        self.compute = compute
    }

    /// `noise_regularize(noises)` with the schedule's weight.
    public static func noiseRegularization(weight: Double) -> LossTerm {
        LossTerm("noise", weight: weight) { ProjectorFunctions.noiseRegularize($0.noises) }
    }
}

/// Values of one step (before the update).
public struct OptimizationStep: Sendable {
    public var step: Int
    public var learningRate: Double
    public var noiseStrength: Double
    /// Unweighted value of each term by name.
    public var terms: [String: Double]
    public var total: Double

    public func term(_ name: String) -> Double { terms[name] ?? 0 }
}

/// The optimised latent, noise maps and log.
public struct OptimizationResult {
    public var latent: Tensor<Float>
    public var noises: [Tensor<Float>]
    public var steps: [OptimizationStep]
}

/// Adam over `latent` and `noises` for `schedule.steps` steps: per step the learning rate from `get_lr`, the
/// latent plus N(0,1)·strength from `randomness`, the image from `generator` (then `prepare`; any family), the weighted sum of `terms`,
/// backward, update, `noise_normalize_`. Throws `ProjectorError.nonFinite` when a term or the total is NaN or
/// infinite, `JobCancelled` before a step when the job's `JobCancellation` is set. `afterUpdate` sees the latent and noise maps after each update with this step's gradients.
public func optimizeLatent<R: ProjectorRandomness>(
    generator: any FaceGenerator, latent initial: Tensor<Float>, noises: [Tensor<Float>], schedule: OptimizationSchedule,
    terms: [LossTerm], randomness: inout R, latentStd: Float, prepare: (Tensor<Float>) -> Tensor<Float> = { $0 },
    onStep: (OptimizationStep) -> Void = { _ in },
    afterUpdate: (_ step: Int, _ latent: Tensor<Float>, _ noises: [Tensor<Float>]) -> Void = { _, _, _ in }
) throws -> OptimizationResult {
    for n in noises { n.requiresGrad = true }
    let latentIn = initial.detached()
    latentIn.requiresGrad = true
    let optimizer = Adam([latentIn] + noises, config: AdamConfig(learningRate: schedule.learningRate))
    var log: [OptimizationStep] = []
    for i in 0..<max(0, schedule.steps) {
        try JobCancellation.checkCurrent()
        let t = Double(i) / Double(schedule.steps)
        optimizer.learningRate = ProjectorFunctions.learningRate(t: t, initial: schedule.learningRate)
        let strength = ProjectorFunctions.noiseStrength(t: t, latentStd: latentStd, noise: schedule.noise, noiseRamp: schedule.noiseRamp)
        let latentN = latentIn + randomness.latentNoise(step: i, shape: latentIn.shape) * strength
        let image = prepare(try generator.render(latentN, noises: noises))
        let context = LossContext(image: image, latent: latentIn, noisyLatent: latentN, noises: noises)
        var loss: Tensor<Float>? = nil
        var values: [String: Double] = [:]
        for term in terms {
            if term.weight == 0 {
                values[term.name] = withoutGradients { Double(term.compute(context).item) }
                continue
            }
            let v = term.compute(context)
            values[term.name] = Double(v.item)
            let weighted = v * Float(term.weight)
            loss = loss.map { $0 + weighted } ?? weighted
        }
        let total = loss.map { Double($0.item) } ?? 0
        for term in terms where !(values[term.name] ?? 0).isFinite { throw ProjectorError.nonFinite(step: i, term: term.name) }
        guard total.isFinite else { throw ProjectorError.nonFinite(step: i, term: "total") }
        let entry = OptimizationStep(step: i, learningRate: optimizer.learningRate, noiseStrength: Double(strength), terms: values, total: total)
        optimizer.zeroGrad()
        loss?.backward()
        optimizer.step()
        ProjectorFunctions.noiseNormalize(noises)
        log.append(entry)
        onStep(entry)
        afterUpdate(i, latentIn, noises)  // gradients of this step are still in .grad
    }
    for n in noises { n.requiresGrad = false; n.grad = nil }
    latentIn.requiresGrad = false
    latentIn.grad = nil
    return OptimizationResult(latent: latentIn, noises: noises, steps: log)
}

/// Mean latent and the scalar σ of the generator's prior (`FaceGenerator.latentStatistics`; StyleGAN2: `count`
/// mapped z, σ = √(Σ_{n,d} (w − mean)² / count), upstream projector.py L125–131, which voicestyle pipeline.py
/// also uses for the refinement noise). `count` ≥ 1.
public func latentStatistics(generator: any FaceGenerator, count: Int, using rng: inout SeededGenerator) -> (mean: Tensor<Float>, std: Float) {
    generator.latentStatistics(count: count, using: &rng)
}
