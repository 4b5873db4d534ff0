// Follows torch/optim/adam.py (single-tensor path, amsgrad=False, weight_decay=0, maximize=False).
import RealModule

/// Adam hyper-parameters; defaults equal torch.optim.Adam's.
public struct AdamConfig: Sendable {
    /// Step size α (changed per step by schedules through `Adam.learningRate`).
    public var learningRate: Double = 1e-3
    /// Decay rates (β₁, β₂) of the first and second moment estimates.
    public var betas: (Double, Double) = (0.9, 0.999)
    /// ε added to the bias-corrected √v̂ (outside the square root).
    public var eps: Double = 1e-8
    public init(learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8) {
        self.learningRate = learningRate; self.betas = betas; self.eps = eps
    }
}

/// Adam over a list of parameter tensors, with PyTorch's exact update:
///
///     m ← m + (1 − β₁)(g − m)            (torch lerp_)
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − (α / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// Bias corrections are computed in double precision (as Python floats upstream), the tensor arithmetic
/// in `T`. Parameters whose `grad` is nil are skipped (their step count does not advance).
public final class Adam<T: TensorScalar> {
    public let parameters: [Tensor<T>]
    public var config: AdamConfig
    /// The learning rate of the next step (torch `param_groups[0]['lr']`).
    public var learningRate: Double {
        get { config.learningRate }
        set { config.learningRate = newValue }
    }
    private var m: [Tensor<T>]
    private var v: [Tensor<T>]
    private var steps: [Int]

    public init(_ parameters: [Tensor<T>], config: AdamConfig = AdamConfig()) {
        self.parameters = parameters
        self.config = config
        m = parameters.map { Tensor(zeros: $0.shape) }
        v = parameters.map { Tensor(zeros: $0.shape) }
        steps = Array(repeating: 0, count: parameters.count)
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// One update from the parameters' current gradients.
    public func step() {
        let (b1, b2) = config.betas
        for (k, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            steps[k] += 1
            let t = Double(steps[k])
            let bc1 = 1 - Double.pow(b1, t), bc2Sqrt = (1 - Double.pow(b2, t)).squareRoot()
            let stepSize = T(config.learningRate / bc1)
            let w1 = T(1 - b1), beta2 = T(b2), w2 = T(1 - b2), eps = T(config.eps), bc2s = T(bc2Sqrt)
            let pp = p.storage.pointer, gp = g.storage.pointer, mp = m[k].storage.pointer, vp = v[k].storage.pointer
            for i in 0..<p.count {
                let gi = gp[i]
                // torch lerp_ with weight < 0.5: self + weight · (end − self).
                mp[i] = mp[i] + w1 * (gi - mp[i])
                vp[i] = vp[i] * beta2 + w2 * (gi * gi)
                let denom = vp[i].squareRoot() / bc2s + eps
                pp[i] = pp[i] - stepSize * (mp[i] / denom)
            }
        }
    }
}
