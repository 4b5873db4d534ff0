// Activations: ReLU, leaky ReLU, PReLU, sigmoid, tanh, and rosinality's fused bias + leaky ReLU
// (stylegan2-pytorch op/fused_act.py, CPU path: leaky_relu(x + bias.view(1, C, 1, …), 0.2) · √2).
import RealModule

extension Tensor {
    /// max(x, 0); gradient 1 where x > 0. NaN stays NaN (as torch.relu).
    public func relu() -> Tensor<T> {
        Tensor.record("relu", mapped { $0 < 0 ? 0 : $0 }, [self]) { g in [g.zipped(self) { gi, x in x > 0 ? gi : 0 }] }
    }

    /// x for x > 0, else slope·x (torch leaky_relu; the gradient at 0 is `slope`).
    public func leakyRelu(slope: T) -> Tensor<T> {
        Tensor.record("leakyRelu", mapped { $0 > 0 ? $0 : $0 * slope }, [self]) { g in
            [g.zipped(self) { gi, x in x > 0 ? gi : gi * slope }]
        }
    }

    /// 1 / (1 + e^(−x)).
    public func sigmoid() -> Tensor<T> {
        let y = mapped { 1 / (1 + T.exp(-$0)) }
        let yv = y.detachedView()  // the output's data, not the output: capturing `y` would be a reference cycle
        return Tensor.record("sigmoid", y, [self]) { g in [g.zipped(yv) { gi, s in gi * s * (1 - s) }] }
    }

    /// tanh(x) (torch.tanh); gradient 1 − tanh²(x).
    public func tanh() -> Tensor<T> {
        let y = mapped { T.tanh($0) }
        let yv = y.detachedView()
        return Tensor.record("tanh", y, [self]) { g in [g.zipped(yv) { gi, t in gi * (1 - t * t) }] }
    }

    /// Extent of axis 1 and the product of the axes after it (for per-channel parameters).
    @inline(__always)
    var channelLayout: (outer: Int, channels: Int, inner: Int) {
        precondition(rank >= 2, "per-channel op needs shape [N, C, …], got \(shape)")
        return (shape[0], shape[1], shape[2...].reduce(1, *))
    }

    /// rosinality's `fused_leaky_relu(x, bias, negative_slope, scale)`:
    /// `leaky_relu(x + bias[c], slope) · scale` with `bias` of shape [C] broadcast along axis 1.
    ///
    /// - Parameters: `x` is [N, C, …] (2-D for EqualLinear, 4-D for StyledConv); `bias` is [C] or nil.
    /// - Defaults: slope 0.2, scale √2 (upstream's hard-coded CPU values).
    public func fusedLeakyRelu(bias: Tensor<T>?, slope: T = 0.2, scale: T = T(2).squareRoot()) -> Tensor<T> {
        let (outer, c, inner) = channelLayout
        if let bias { precondition(bias.count == c, "bias has \(bias.count) values for \(c) channels") }
        let out = Tensor<T>(uninitializedShape: shape)
        let x = storage.pointer, o = out.storage.pointer
        let b = bias?.storage.pointer
        for n in 0..<outer {
            for ch in 0..<c {
                let bv = b?[ch] ?? 0
                let base = (n * c + ch) * inner
                for i in base..<(base + inner) {
                    let z = x[i] + bv
                    o[i] = (z > 0 ? z : z * slope) * scale
                }
            }
        }
        var inputs = [self]
        if let bias { inputs.append(bias) }
        return Tensor.record("fusedLeakyRelu", out, inputs) { g in
            // dL/dz = g · scale · (z > 0 ? 1 : slope), z = x + b.
            let gz = Tensor<T>(uninitializedShape: self.shape)
            let gp = g.storage.pointer, gzp = gz.storage.pointer
            for n in 0..<outer {
                for ch in 0..<c {
                    let bv = b?[ch] ?? 0
                    let base = (n * c + ch) * inner
                    for i in base..<(base + inner) {
                        let z = x[i] + bv
                        gzp[i] = gp[i] * scale * (z > 0 ? 1 : slope)
                    }
                }
            }
            var grads: [Tensor<T>?] = [gz]
            if let bias { grads.append(bias.needsGrad ? gz.sumPerChannel() : nil) }
            return grads
        }
    }

    /// Sum over every axis except 1: [N, C, …] → [C] (no history).
    func sumPerChannel() -> Tensor<T> {
        let (outer, c, inner) = channelLayout
        let out = Tensor<T>(zeros: [c])
        let x = storage.pointer, o = out.storage.pointer
        for ch in 0..<c {
            var acc = 0.0
            for n in 0..<outer {
                let base = (n * c + ch) * inner
                for i in base..<(base + inner) { acc += Double(x[i]) }
            }
            o[ch] = T(acc)
        }
        return out
    }

    /// PReLU with one weight per channel (axis 1): x for x > 0, else weight[c]·x.
    public func prelu(weight: Tensor<T>) -> Tensor<T> {
        let (outer, c, inner) = channelLayout
        precondition(weight.count == c || weight.count == 1, "PReLU weight has \(weight.count) values for \(c) channels")
        let shared = weight.count == 1
        let out = Tensor<T>(uninitializedShape: shape)
        let x = storage.pointer, o = out.storage.pointer, w = weight.storage.pointer
        for n in 0..<outer {
            for ch in 0..<c {
                let a = w[shared ? 0 : ch], base = (n * c + ch) * inner
                for i in base..<(base + inner) { o[i] = x[i] > 0 ? x[i] : a * x[i] }
            }
        }
        return Tensor.record("prelu", out, [self, weight]) { g in
            let gp = g.storage.pointer
            var gx: Tensor<T>? = nil
            if self.needsGrad {
                let t = Tensor<T>(uninitializedShape: self.shape)
                let tp = t.storage.pointer
                for n in 0..<outer {
                    for ch in 0..<c {
                        let a = w[shared ? 0 : ch], base = (n * c + ch) * inner
                        for i in base..<(base + inner) { tp[i] = x[i] > 0 ? gp[i] : a * gp[i] }
                    }
                }
                gx = t
            }
            var gw: Tensor<T>? = nil
            if weight.needsGrad {
                let t = Tensor<T>(zeros: weight.shape)
                let tp = t.storage.pointer
                for n in 0..<outer {
                    for ch in 0..<c {
                        let base = (n * c + ch) * inner
                        var acc = 0.0
                        for i in base..<(base + inner) where x[i] <= 0 { acc += Double(gp[i] * x[i]) }
                        tp[shared ? 0 : ch] += T(acc)
                    }
                }
                gw = t
            }
            return [gx, gw]
        }
    }
}
