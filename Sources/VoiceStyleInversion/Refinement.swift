// Follows voicestyle generation/pipeline.py `optimize` (L16–114) and similarity/cmpc_loss.py: refine a W latent
// and the noise maps so the generated face moves towards the voice in CMPC space.
import Foundation
import VoiceStyleEngine
import VoiceStyleModels

/// Refinement settings. Defaults: upstream's schedule (100 Adam steps, lr 0.01 with get_lr, latent noise
/// 0.05·σ ramped to 0 at 75 %, noise regulariser ×1e5) plus voicestyle-native terms that upstream lacks.
public struct RefinementConfig: Sendable, Codable, Equatable, LatentOptimizationSettings {
    public var schedule = OptimizationSchedule(steps: 100, learningRate: 0.01)
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

    /// The refiner's terms of a loop step.
    public init(_ s: OptimizationStep) {
        step = s.step; learningRate = s.learningRate; noiseStrength = s.noiseStrength; cmpc = s.term("cmpc"); identity = s.term("identity")
        anchor = s.term("anchor"); noiseRegularization = s.term("noise"); latentRegularization = s.term("latent"); total = s.total
    }
}

public struct RefinementResult {
    public var latent: Tensor<Float>
    public var noises: [Tensor<Float>]
    public var steps: [RefinementStep]
}

public final class Refiner {
    public let generator: any FaceGenerator
    public let cmpc: CMPCModel
    public let identity: IdentityLoss?

    public init(generator: any FaceGenerator, cmpc: CMPCModel, identity: IdentityLoss?) {
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
        let g = generator
        let noises = randomness.initialNoise(shapes: g.noiseShapes(batch: 1))
        let anchor = initial.detached(), voiceConst = voice.detached()
        var terms = [LossTerm("cmpc") { CMPCModel.distance(voice: voiceConst, face: self.cmpc.face($0.image)).reshaped([1]) },
                     .noiseRegularization(weight: config.noiseRegularize)]
        // Upstream's r_loss: ‖latent − noisy latent‖², a constant (no gradient) added for its value.
        let latentTerm = LossTerm("latent", weight: config.latentRegularize) { c in withoutGradients { (c.latent - c.noisyLatent).square().sum() } }
        if config.upstreamCompat {
            terms.append(latentTerm)
        } else {
            terms.append(LossTerm("latent", weight: 0, latentTerm.compute))
            if let identity, let identityTarget, config.identityWeight != 0 {
                terms.append(LossTerm("identity", weight: config.identityWeight) { identity($0.image, targetFeatures: identityTarget) })
            }
            if config.anchorWeight != 0 {
                terms.append(LossTerm("anchor", weight: config.anchorWeight) { ($0.latent - anchor).square().sum() })
            }
            if g.priorWeight != 0 { terms.append(LossTerm("prior", weight: g.priorWeight) { g.prior($0.latent) }) }
        }
        let result = try optimizeLatent(generator: generator, latent: initial, noises: noises, schedule: config.schedule, terms: terms,
                                        randomness: &randomness, latentStd: latentStd, prepare: { g.lossImage($0.clamp(min: -1, max: 1)) },
                                        onStep: { onStep(RefinementStep($0)) },
                                        afterUpdate: afterUpdate)
        return RefinementResult(latent: result.latent, noises: result.noises, steps: result.steps.map(RefinementStep.init))
    }
}
