// Follows rosinality/stylegan2-pytorch projector.py (as copied into voicestyle generation/projector.py):
// noise_regularize, noise_normalize_, get_lr and the latent-noise strength.
import RealModule
import VoiceStyleEngine

/// The schedules and noise terms of the projector; defaults equal upstream's.
public enum ProjectorFunctions {
    /// `noise_regularize(noises)`: for each noise map [B, 1, R, R], repeatedly add
    /// mean(n·roll(n, 1, W))² + mean(n·roll(n, 1, H))² then, while R > 8, 2×2 average-pool and halve R.
    /// Means run over the whole tensor (all batch items). Returns a 0-d tensor.
    public static func noiseRegularize(_ noises: [Tensor<Float>]) -> Tensor<Float> {
        var loss = Tensor<Float>(scalar: 0)
        for var noise in noises {
            var size = noise.shape[2]
            while true {
                loss = loss + (noise * noise.rolled(1, axis: 3)).mean().square()
                    + (noise * noise.rolled(1, axis: 2)).mean().square()
                if size <= 8 { break }
                noise = noise.reshaped([-1, 1, size / 2, 2, size / 2, 2]).mean(axes: [3, 5])
                size /= 2
            }
        }
        return loss
    }

    /// `noise_normalize_(noises)`: in place, each whole tensor becomes (n − mean) / std with the unbiased
    /// (N − 1) standard deviation. Not recorded by autodiff (upstream works on `.data`).
    public static func noiseNormalize(_ noises: [Tensor<Float>]) {
        for noise in noises {
            let p = noise.mutableBuffer
            let n = Double(p.count)
            var sum = 0.0
            for v in p { sum += Double(v) }
            let mean = Float(sum / n)
            var ss = 0.0
            for v in p { let d = Double(v - mean); ss += d * d }
            let std = Float((ss / (n - 1)).squareRoot())
            for i in p.indices { p[i] = (p[i] - mean) / std }
        }
    }

    /// `get_lr(t, initial_lr, rampdown=0.25, rampup=0.05)`: linear warm-up over the first `rampUp` of the
    /// run, cosine decay over the last `rampDown`; t ∈ [0, 1).
    public static func learningRate(t: Double, initial: Double, rampDown: Double = 0.25, rampUp: Double = 0.05) -> Double {
        var ramp = min(1, (1 - t) / rampDown)
        ramp = 0.5 - 0.5 * Double.cos(ramp * .pi)
        ramp *= min(1, t / rampUp)
        return initial * ramp
    }

    /// The latent-noise strength as upstream evaluates it: `latent_std` is a float32 tensor, so
    /// (latent_std · noise) · max(0, 1 − t/noise_ramp)² is rounded to float32 after each product (the factor
    /// itself in double). Matching these roundings matters: the projector's gradients are sensitive to them.
    public static func noiseStrength(t: Double, latentStd: Float, noise: Double = 0.05, noiseRamp: Double = 0.75) -> Float {
        let factor = Double.pow(max(0, 1 - t / noiseRamp), 2)
        return (latentStd * Float(noise)) * Float(factor)
    }

    /// The latent-noise strength `latent_std · noise · max(0, 1 − t/noise_ramp)²` (defaults 0.05 and 0.75).
    public static func noiseStrength(t: Double, latentStd: Double, noise: Double = 0.05, noiseRamp: Double = 0.75) -> Double {
        latentStd * noise * Double.pow(max(0, 1 - t / noiseRamp), 2)
    }
}
