// Follows voicestyle generation/pipeline.py `optimize` (L16–114) and similarity/cmpc_loss.py: refine a W latent
// and the noise maps so the generated face moves towards the voice in CMPC space.
import Foundation
import VoiceStyleEngine
import VoiceStyleModels

/// Refinement settings. Defaults: upstream's schedule (100 Adam steps, lr 0.01 with get_lr, latent noise
/// 0.05·σ ramped to 0 at 75 %, noise regulariser ×1e5) plus voicestyle-native terms that upstream lacks.
public struct RefinementConfig: Sendable, Equatable {
    public var steps = 100
    public var learningRate = 0.01
    public var noise = 0.05
    public var noiseRamp = 0.75
    public var noiseRegularize = 1e5
    /// Upstream's r_loss weight (its gradient is exactly zero; kept for the replayed loss value).
    public var latentRegularize = 1e-3
    /// Weight of 1 − cos(ArcFace(G(w)), mean ArcFace of the prototypes) (0 in upstream).
    public var identityWeight = 0.1
    /// Weight of ‖w − w̄‖² pulling towards the aggregated prototype latent (upstream: none).
    public var anchorWeight = 0.01
    /// Reproduce upstream's loss exactly (c_loss + 1e5·n_loss + 0.001·r_loss; no identity, no anchor).
    public var upstreamCompat = false
    public init() {}
}

/// Loss terms of one refinement step (before the update).
public struct RefinementStep: Sendable, Codable, Equatable {
    public var step: Int
    public var learningRate: Double
    public var noiseStrength: Double
    public var cmpc: Double
    public var identity: Double
    public var anchor: Double
    public var noiseRegularization: Double
    public var latentRegularization: Double
    public var total: Double
}

public struct RefinementResult {
    public var latent: Tensor<Float>
    public var noises: [Tensor<Float>]
    public var steps: [RefinementStep]
}

public final class Refiner {
    public let generator: StyleGAN2Generator
    public let cmpc: CMPCModel
    public let identity: IdentityLoss?

    public init(generator: StyleGAN2Generator, cmpc: CMPCModel, identity: IdentityLoss?) {
        self.generator = generator
        self.cmpc = cmpc
        self.identity = identity
    }

    /// Refines `initial` [1, D] for the voice embedding `voice` [1, D_cmpc]. `identityTarget` is the mean
    /// ArcFace embedding of the prototypes (unit vector [1, E]) for the identity term.
    public func refine<R: ProjectorRandomness>(initial: Tensor<Float>, voice: Tensor<Float>, identityTarget: Tensor<Float>?,
                                               latentStd: Float, config: RefinementConfig, randomness: inout R,
                                               onStep: (RefinementStep) -> Void = { _ in },
                                               afterUpdate: (_ step: Int, _ latent: Tensor<Float>, _ noises: [Tensor<Float>]) -> Void = { _, _, _ in })
        throws -> RefinementResult {
        let g = generator.config
        let noises = randomness.initialNoise(shapes: (0..<g.noiseCount).map { [1, 1, g.noiseResolution($0), g.noiseResolution($0)] })
        for n in noises { n.requiresGrad = true }
        let anchor = initial.detached()
        let latentIn = initial.detached()
        latentIn.requiresGrad = true
        let optimizer = Adam([latentIn] + noises, config: AdamConfig(learningRate: config.learningRate))
        let voiceConst = voice.detached()
        var log: [RefinementStep] = []
        for i in 0..<config.steps {
            let t = Double(i) / Double(config.steps)
            optimizer.learningRate = ProjectorFunctions.learningRate(t: t, initial: config.learningRate)
            let strength = ProjectorFunctions.noiseStrength(t: t, latentStd: latentStd, noise: config.noise, noiseRamp: config.noiseRamp)
            let latentN = latentIn + randomness.latentNoise(step: i, shape: latentIn.shape) * strength
            let image = generator.synthesize(try generator.latents([latentN], inputIsLatent: true), noise: noises).clamp(min: -1, max: 1)
            let cLoss = CMPCModel.distance(voice: voiceConst, face: cmpc.face(image)).reshaped([1])
            let nLoss = ProjectorFunctions.noiseRegularize(noises)
            let rValue = withoutGradients { (latentIn - latentN).square().sum().item }
            var loss = cLoss + nLoss * Float(config.noiseRegularize)
            var idValue = 0.0, anchorValue = 0.0
            if config.upstreamCompat {
                loss = loss + Float(config.latentRegularize) * rValue
            } else {
                if let identity, let identityTarget, config.identityWeight != 0 {
                    let id = identity(image, targetFeatures: identityTarget)
                    idValue = Double(id.item)
                    loss = loss + id * Float(config.identityWeight)
                }
                if config.anchorWeight != 0 {
                    let a = (latentIn - anchor).square().sum()
                    anchorValue = Double(a.item)
                    loss = loss + a * Float(config.anchorWeight)
                }
            }
            let entry = RefinementStep(step: i, learningRate: optimizer.learningRate, noiseStrength: Double(strength), cmpc: Double(cLoss.item),
                                       identity: idValue, anchor: anchorValue, noiseRegularization: Double(nLoss.item),
                                       latentRegularization: Double(rValue), total: Double(loss.item))
            guard entry.total.isFinite else { throw ProjectorError.nonFinite(step: i, term: "refinement") }
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            ProjectorFunctions.noiseNormalize(noises)
            log.append(entry)
            onStep(entry)
            afterUpdate(i, latentIn, noises)
        }
        for n in noises { n.requiresGrad = false; n.grad = nil }
        latentIn.requiresGrad = false
        latentIn.grad = nil
        return RefinementResult(latent: latentIn, noises: noises, steps: log)
    }
}
