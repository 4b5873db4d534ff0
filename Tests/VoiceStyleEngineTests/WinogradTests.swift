// Winograd F(4×4, 3×3) convolutions (Sources/VoiceStyleEngine/Winograd.swift) against the direct path:
// exact up to rounding in float64 on odd shapes, and within 3e-5 of the output's RMS in float32 on the
// full-size StyleGAN2 shapes.
import Testing
import VoiceStyleEngine
import VoiceStyleTestSupport

@Suite("Winograd convolutions")
struct WinogradTests {
    @Test("float64: forward and both gradients equal the direct convolution", arguments: 0..<6)
    func float64(trial: Int) {
        var rng = SeededGenerator(seed: 900 + UInt64(trial))
        func dim(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }
        let n = dim(1, 3), cin = dim(1, 9), cout = dim(1, 9), h = dim(1, 13), w = dim(1, 13), p = trial % 3
        guard h + 2 * p >= 3 && w + 2 * p >= 3 else { return }
        let x = Tensor<Double>.randomNormal([n, cin, h, w], using: &rng)
        let weight = Tensor<Double>.randomNormal([cout, cin, 3, 3], using: &rng)
        let seed = Tensor<Double>.randomNormal([n, cout, h + 2 * p - 2, w + 2 * p - 2], using: &rng)
        func run(_ a: ConvolutionAlgorithm) -> (Tensor<Double>, Tensor<Double>, Tensor<Double>) {
            let xi = x.detached(), wi = weight.detached()
            xi.requiresGrad = true
            wi.requiresGrad = true
            let y = xi.conv2d(weight: wi, padding: p, algorithm: a)
            (y * seed).sum().backward()
            return (y, xi.grad!, wi.grad!)
        }
        let (yd, gxd, gwd) = run(.direct), (yw, gxw, gww) = run(.winograd)
        #expect(relativeError(yw, yd) < 1e-12, "forward n\(n) \(cin)→\(cout) \(h)×\(w) p\(p)")
        #expect(relativeError(gxw, gxd) < 1e-12, "input gradient")
        #expect(relativeError(gww, gwd) < 1e-12, "weight gradient")
        // Frozen weights: the cached transforms give the same values on every call.
        let frozen = weight.detached()
        let a = x.conv2d(weight: frozen, padding: p, algorithm: .winograd), b = x.conv2d(weight: frozen, padding: p, algorithm: .winograd)
        #expect(relativeError(a, yd) < 1e-12 && relativeError(b, yd) < 1e-12, "cached kernels")
    }

    @Test("float32 on StyleGAN2-256 shapes: worst error within 3e-5 of the output RMS, RMS error within 3e-6")
    func float32Accuracy() {
        var rng = SeededGenerator(seed: 31)
        for (c, s) in [(512, 16), (256, 32), (128, 64)] {
            let x64 = Tensor<Double>.randomNormal([1, c, s, s], using: &rng)
            let w64 = Tensor<Double>.randomNormal([c, c, 3, 3], using: &rng) * (1 / Double(9 * c).squareRoot())
            let ref = x64.conv2d(weight: w64, padding: 1, algorithm: .direct)
            let x = Tensor<Float>(shape: x64.shape, scalars: x64.scalars.map { Float($0) })
            let w = Tensor<Float>(shape: w64.shape, scalars: w64.scalars.map { Float($0) })
            let scale = ref.scalars.map { $0 * $0 }.reduce(0, +) / Double(ref.count)
            func err(_ a: ConvolutionAlgorithm) -> (max: Double, rms: Double) {
                let d = zip(x.conv2d(weight: w, padding: 1, algorithm: a).scalars, ref.scalars).map { abs(Double($0) - $1) }
                return (d.max()! / scale.squareRoot(), (d.map { $0 * $0 }.reduce(0, +) / Double(d.count) / scale).squareRoot())
            }
            // Measured: worst 1.7–1.9e-5 (direct 1.4–2.4e-6).
            let direct = err(.direct), winograd = err(.winograd)
            #expect(winograd.max < 3e-5 && winograd.rms < 3e-6, "\(c) channels at \(s) px: Winograd \(winograd), direct \(direct)")
        }
    }
}
