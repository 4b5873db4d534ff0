// EqualLinear and the projector helpers against the upstream fixtures (../shared/fixtures/ops, copied
// into Fixtures/). Forward ≤ 1e-4·max(1,|ref|) per element; gradients ≤ 1e-3 relative.
import Foundation
import Testing
import VoiceStyleEngine
import VoiceStyleInversion
import VoiceStyleModels
import VoiceStyleTestSupport

private func fixture(_ name: String) throws -> FixtureFile {
    try Fixtures.load(Fixtures.local("VoiceStyleModelsTests", name))
}

@Suite("Upstream layer fixtures")
struct UpstreamLayerFixtureTests {
    @Test("EqualLinear", arguments: [
        ("equal_linear_mapping_lrmul0.01_lrelu", Float(0.01), true),
        ("equal_linear_modulation_biasinit1", Float(1), false),
        ("equal_linear_lrmul0.5_noact", Float(0.5), false),
    ])
    func equalLinear(_ c: (String, Float, Bool)) throws {
        let f = try fixture("\(c.0).safetensors")
        let layer = EqualLinear(weight: try f.tensor("p.weight"), bias: try f.tensor("p.bias"), lrMul: c.1, activation: c.2)
        layer.weight.requiresGrad = true
        layer.bias.requiresGrad = true
        let x = try f.tensor("input")
        x.requiresGrad = true
        let y = layer(x)
        (y * (try f.tensor("R"))).sum().backward()
        expectForward(y, try f.tensor("output"), "\(c.0) output")
        expectGradient(x.grad, try f.tensor("grad_input"), "\(c.0) grad_input")
        expectGradient(layer.weight.grad, try f.tensor("grad_weight"), "\(c.0) grad_weight")
        expectGradient(layer.bias.grad, try f.tensor("grad_bias"), "\(c.0) grad_bias")
    }

    @Test("noise_regularize value and gradients")
    func noiseRegularize() throws {
        let f = try fixture("projector_funcs.safetensors")
        let noises = try (0..<7).map { try f.tensor("noise_\($0)") }
        for n in noises { n.requiresGrad = true }
        let loss = ProjectorFunctions.noiseRegularize(noises)
        loss.backward()
        expectForward(loss.reshaped([1]), try f.tensor("noise_regularize"), "noise_regularize")
        for (i, n) in noises.enumerated() { expectGradient(n.grad, try f.tensor("grad_noise_\(i)"), "grad_noise_\(i)") }
    }

    @Test("noise_normalize_ (unbiased std)")
    func noiseNormalize() throws {
        let f = try fixture("projector_funcs.safetensors")
        let noises = try (0..<7).map { try f.tensor("noise_\($0)") }
        ProjectorFunctions.noiseNormalize(noises)
        for (i, n) in noises.enumerated() { expectForward(n, try f.tensor("normalized_noise_\(i)"), "normalized_noise_\(i)") }
    }

    @Test("get_lr table and noise-strength factor over 1000 steps")
    func schedules() throws {
        let f = try fixture("projector_funcs.safetensors")
        let ts = try f.tensor("get_lr_t").scalars, lrs = try f.tensor("get_lr").scalars
        let factors = try f.tensor("noise_strength_factor").scalars
        #expect(ts.count == 1000)
        for i in 0..<ts.count {
            let t = Double(i) / 1000
            #expect(Float(t) == ts[i])
            let lr = Float(ProjectorFunctions.learningRate(t: t, initial: 0.1))
            #expect(abs(lr - lrs[i]) <= 1e-7 * max(1, abs(lrs[i])), "get_lr(\(t)) = \(lr), upstream \(lrs[i])")
            let s = Float(ProjectorFunctions.noiseStrength(t: t, latentStd: 1.0 as Double))
            #expect(abs(s - factors[i]) <= 1e-7, "noise strength at \(t) = \(s), upstream \(factors[i])")
        }
    }
}
