// StyleGAN2 layers against the upstream op fixtures: ModulatedConv2d (plain / up / down, with and without
// demodulation, 1×1 ToRGB), StyledConv, ToRGB, ConstantInput.
import Foundation
import Testing
import VoiceStyleEngine
@testable import VoiceStyleModels
import VoiceStyleTestSupport

private func fixture(_ name: String) throws -> FixtureFile {
    try Fixtures.load(Fixtures.local("VoiceStyleModelsTests", "\(name).safetensors"))
}

private func config(_ f: FixtureFile) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data((f.metadata["config"] ?? "{}").utf8)) as? [String: Any] ?? [:]
}

@Suite("StyleGAN2 layers")
struct StyleGAN2LayerTests {
    @Test("ModulatedConv2d", arguments: ["modconv_plain_demod", "modconv_plain_nodemod", "modconv_up_demod", "modconv_up_nodemod",
                                         "modconv_down_demod", "modconv_down_nodemod", "modconv_torgb_1x1_nodemod"])
    func modulatedConv(_ name: String) throws {
        let f = try fixture(name)
        let c = try config(f)
        let weight = try f.tensor("p.weight"), mw = try f.tensor("p.modulation.weight"), mb = try f.tensor("p.modulation.bias")
        for t in [weight, mw, mb] { t.requiresGrad = true }
        let conv = ModulatedConv2d(weight: weight, modulation: EqualLinear(weight: mw, bias: mb), demodulate: c["demodulate"] as! Bool,
                                   upsample: c["upsample"] as! Bool, downsample: c["downsample"] as! Bool)
        let x = try f.tensor("input"), s = try f.tensor("style")
        x.requiresGrad = true
        s.requiresGrad = true
        let y = conv(x, style: s)
        (y * (try f.tensor("R"))).sum().backward()
        expectForward(y, try f.tensor("output"), "\(name) output")
        expectGradient(x.grad, try f.tensor("grad_input"), "\(name) grad_input")
        expectGradient(s.grad, try f.tensor("grad_style"), "\(name) grad_style")
        expectGradient(weight.grad, try f.tensor("grad_weight"), "\(name) grad_weight")
        expectGradient(mw.grad, try f.tensor("grad_modulation.weight"), "\(name) grad_modulation.weight")
        expectGradient(mb.grad, try f.tensor("grad_modulation.bias"), "\(name) grad_modulation.bias")
    }

    @Test("StyledConv with upsampling, noise and activation")
    func styledConv() throws {
        let f = try fixture("styledconv_up")
        let conv = ModulatedConv2d(weight: try f.tensor("p.conv.weight"),
                                   modulation: EqualLinear(weight: try f.tensor("p.conv.modulation.weight"), bias: try f.tensor("p.conv.modulation.bias")),
                                   upsample: true, blurKernel: try f.tensor("p.conv.blur.kernel"))
        let layer = StyledConv(conv: conv, noiseWeight: try f.tensor("p.noise.weight"), activationBias: try f.tensor("p.activate.bias"))
        let x = try f.tensor("input"), s = try f.tensor("style"), n = try f.tensor("noise")
        for t in [x, s, n] { t.requiresGrad = true }
        let y = layer(x, style: s, noise: n)
        (y * (try f.tensor("R"))).sum().backward()
        expectForward(y, try f.tensor("output"), "output")
        expectGradient(x.grad, try f.tensor("grad_input"), "grad_input")
        expectGradient(s.grad, try f.tensor("grad_style"), "grad_style")
        expectGradient(n.grad, try f.tensor("grad_noise"), "grad_noise")
    }

    @Test("ToRGB with and without the skip input")
    func toRGB() throws {
        let f = try fixture("torgb")
        let conv = ModulatedConv2d(weight: try f.tensor("p.conv.weight"),
                                   modulation: EqualLinear(weight: try f.tensor("p.conv.modulation.weight"), bias: try f.tensor("p.conv.modulation.bias")),
                                   demodulate: false)
        let layer = ToRGB(conv: conv, bias: try f.tensor("p.bias"), upsampleKernel: try f.tensor("p.upsample.kernel"))
        let x = try f.tensor("input"), s = try f.tensor("style"), skip = try f.tensor("skip")
        for t in [x, s, skip] { t.requiresGrad = true }
        let y = layer(x, style: s, skip: skip)
        (y * (try f.tensor("R"))).sum().backward()
        expectForward(y, try f.tensor("output"), "output")
        expectGradient(x.grad, try f.tensor("grad_input"), "grad_input")
        expectGradient(s.grad, try f.tensor("grad_style"), "grad_style")
        expectGradient(skip.grad, try f.tensor("grad_skip"), "grad_skip")
        let x2 = try f.tensor("input"), s2 = try f.tensor("style")
        x2.requiresGrad = true
        s2.requiresGrad = true
        let y2 = layer(x2, style: s2, skip: nil)
        (y2 * (try f.tensor("R_noskip"))).sum().backward()
        expectForward(y2, try f.tensor("output_noskip"), "output_noskip")
        expectGradient(x2.grad, try f.tensor("grad_input_noskip"), "grad_input_noskip")
        expectGradient(s2.grad, try f.tensor("grad_style_noskip"), "grad_style_noskip")
    }

    @Test("ConstantInput repeats over the batch")
    func constantInput() throws {
        let f = try fixture("constant_input")
        let p = try f.tensor("p.input")
        let batch = try f.tensor("batch_input").shape[0]
        expectForward(p.repeated([batch, 1, 1, 1]), try f.tensor("output"), "output")
    }

    @Test("make_kernel matches the stored blur buffers")
    func blurKernel() throws {
        let f = try fixture("styledconv_up")
        expectForward(makeBlurKernel(scale: 4), try f.tensor("p.conv.blur.kernel"), atol: 1e-7, "blur kernel")
    }
}

@Suite("StyledConv fused epilogue")
struct EpilogueTests {
    @Test("equals the unfused ops, values and every gradient, with per-sample and shared noise", arguments: [1, 3])
    func matchesComposite(noiseBatch: Int) throws {
        var rng = SeededGenerator(seed: 31)
        let o = Tensor<Float>.randomNormal([3, 5, 6, 7], using: &rng), d = Tensor<Float>.randomUniform([3, 5], low: 0.5, high: 2, using: &rng)
        let noise = Tensor<Float>.randomNormal([noiseBatch, 1, 6, 7], using: &rng)
        let nw = Tensor<Float>(shape: [1], scalars: [0.3]), bias = Tensor<Float>.randomNormal([5], using: &rng)
        let r = Tensor<Float>.randomNormal([3, 5, 6, 7], using: &rng)
        func run(_ fused: Bool) -> [Tensor<Float>] {
            let inputs = [o, d, noise, nw, bias].map { t -> Tensor<Float> in let c = t.detached(); c.requiresGrad = true; return c }
            let y = fused
                ? StyledConv.epilogue(inputs[0], demodulation: inputs[1], noise: inputs[2], noiseWeight: inputs[3], bias: inputs[4])
                : (inputs[0] * inputs[1].reshaped([3, 5, 1, 1]) + inputs[3] * inputs[2]).fusedLeakyRelu(bias: inputs[4])
            (y * r).sum().backward()
            return [y] + inputs.map { $0.grad! }
        }
        let fused = run(true), plain = run(false)
        expectForward(fused[0], plain[0], atol: 1e-6, "output")
        for (i, name) in ["o", "d", "noise", "noise weight", "bias"].enumerated() {
            expectGradient(fused[i + 1], plain[i + 1], rtol: 1e-5, "grad \(name)")
        }
    }
}
