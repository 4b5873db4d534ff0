// Adam against a sequence computed by hand (PyTorch's formulas, double precision).
import Foundation
import Testing
import VoiceStyleEngine

@Suite("Adam")
struct AdamTests {
    @Test("matches a hand-computed sequence with per-step learning rates")
    func handComputed() {
        let p = Tensor<Double>(shape: [2], scalars: [1.0, -2.0], requiresGrad: true)
        let opt = Adam([p], config: AdamConfig(learningRate: 0.1))
        let lrs = [0.0, 0.1, 0.05, 0.2]
        // Loss L = p0² + 3·p1 → g = (2·p0, 3).
        var ref = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0]
        for (t, lr) in lrs.enumerated() {
            opt.learningRate = lr
            opt.zeroGrad()
            (p[0].square() + p[1] * 3).backward()
            opt.step()
            let g = [2 * ref[0], 3.0]
            let step = Double(t + 1)
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mhat = m[i] / (1 - pow(0.9, step)), vhat = v[i] / (1 - pow(0.999, step))
                ref[i] -= lr * mhat / (vhat.squareRoot() + 1e-8)
            }
            #expect(abs(p.scalars[0] - ref[0]) < 1e-12 && abs(p.scalars[1] - ref[1]) < 1e-12, "step \(t): \(p.scalars) vs \(ref)")
        }
        // First step at lr 0 leaves p, later steps move it: the sequence is not trivial.
        #expect(abs(ref[0] - 1) > 0.1)
    }

    @Test("skips parameters without gradients")
    func skipsFrozen() {
        let a = Tensor<Float>(shape: [1], scalars: [1], requiresGrad: true)
        let b = Tensor<Float>(shape: [1], scalars: [5], requiresGrad: true)
        let opt = Adam([a, b], config: AdamConfig(learningRate: 0.5))
        (a * 2).sum().backward()
        opt.step()
        #expect(abs(a.item - 0.5) < 1e-6)  // first Adam step moves by lr·sign(g)
        #expect(b.item == 5)
    }
}

extension Tensor {
    /// Element `i` of a vector as a 0-d slice (test convenience).
    subscript(i: Int) -> Tensor<T> { slice(axis: 0, i, i + 1).reshaped([]) }
}
