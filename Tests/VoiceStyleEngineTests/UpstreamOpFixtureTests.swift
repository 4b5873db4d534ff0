// Engine ops against the upstream fixtures (../shared/fixtures/ops, copied into Fixtures/): rosinality
// upfirdn2d (Upsample, Blur, Downsample, general asymmetric case), FusedLeakyReLU, PixelNorm,
// NoiseInjection. Forward ≤ 1e-4·max(1,|ref|) per element; gradients ≤ 1e-3 relative.
import Foundation
import Testing
import VoiceStyleEngine
import VoiceStyleTestSupport

private func fixture(_ name: String) throws -> FixtureFile {
    try Fixtures.load(Fixtures.local("VoiceStyleEngineTests", name))
}

private func config(_ f: FixtureFile) throws -> [String: Any] {
    let data = Data((f.metadata["config"] ?? "{}").utf8)
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
}

/// Runs L = Σ output·R and returns (output, dL/dinput) for a one-input op.
private func forwardBackward(_ x: Tensor<Float>, _ r: Tensor<Float>, _ f: (Tensor<Float>) -> Tensor<Float>) -> (Tensor<Float>, Tensor<Float>?) {
    x.requiresGrad = true
    let y = f(x)
    (y * r).sum().backward()
    return (y, x.grad)
}

@Suite("Upstream op fixtures")
struct UpstreamOpFixtureTests {
    @Test("upfirdn2d", arguments: [
        "upfirdn2d_upsample_torgb_skip", "upfirdn2d_blur_after_convT", "upfirdn2d_downsample",
        "upfirdn2d_blur_before_downconv", "upfirdn2d_general_asym",
    ])
    func upfirdn(_ name: String) throws {
        let f = try fixture("\(name).safetensors")
        let c = try config(f)
        let pad: UpFirDnPadding
        let up: (x: Int, y: Int), down: (x: Int, y: Int)
        if let p = c["pad_x0_x1_y0_y1"] as? [Int] {
            pad = UpFirDnPadding(x0: p[0], x1: p[1], y0: p[2], y1: p[3])
            let u = c["up"] as! Int, d = c["down"] as! Int
            up = (u, u); down = (d, d)
        } else {
            pad = UpFirDnPadding(x0: c["pad_x0"] as! Int, x1: c["pad_x1"] as! Int, y0: c["pad_y0"] as! Int, y1: c["pad_y1"] as! Int)
            up = (c["up_x"] as! Int, c["up_y"] as! Int); down = (c["down_x"] as! Int, c["down_y"] as! Int)
        }
        let kernel = try f.tensor("kernel")
        let (y, g) = forwardBackward(try f.tensor("input"), try f.tensor("R")) {
            $0.upfirdn2d(kernel: kernel, up: up, down: down, pad: pad)
        }
        expectForward(y, try f.tensor("output"), "\(name) output")
        expectGradient(g, try f.tensor("grad_input"), "\(name) grad_input")
    }

    @Test("fused leaky ReLU", arguments: ["fused_lrelu_4d_bias", "fused_lrelu_2d_bias", "fused_lrelu_nobias"])
    func fusedLeakyRelu(_ name: String) throws {
        let f = try fixture("\(name).safetensors")
        let bias: Tensor<Float>? = f.file["p.bias"] != nil ? try f.tensor("p.bias") : (f.file["bias"] != nil ? try f.tensor("bias") : nil)
        bias?.requiresGrad = true
        let (y, g) = forwardBackward(try f.tensor("input"), try f.tensor("R")) { $0.fusedLeakyRelu(bias: bias) }
        expectForward(y, try f.tensor("output"), "\(name) output")
        expectGradient(g, try f.tensor("grad_input"), "\(name) grad_input")
        if let bias { expectGradient(bias.grad, try f.tensor("grad_bias"), "\(name) grad_bias") }
    }

    @Test("PixelNorm")
    func pixelNorm() throws {
        let f = try fixture("pixelnorm.safetensors")
        let (y, g) = forwardBackward(try f.tensor("input"), try f.tensor("R")) { $0.pixelNorm() }
        expectForward(y, try f.tensor("output"), "output")
        expectGradient(g, try f.tensor("grad_input"), "grad_input")
    }

    @Test("NoiseInjection: image + weight·noise")
    func noiseInjection() throws {
        let f = try fixture("noise_injection.safetensors")
        let image = try f.tensor("image"), noise = try f.tensor("noise"), weight = try f.tensor("p.weight")
        for t in [image, noise, weight] { t.requiresGrad = true }
        let y = image + weight * noise
        (y * (try f.tensor("R"))).sum().backward()
        expectForward(y, try f.tensor("output"), "output")
        expectGradient(image.grad, try f.tensor("grad_image"), "grad_image")
        expectGradient(noise.grad, try f.tensor("grad_noise"), "grad_noise")
        expectGradient(weight.grad, try f.tensor("grad_weight"), "grad_weight")
    }
}
