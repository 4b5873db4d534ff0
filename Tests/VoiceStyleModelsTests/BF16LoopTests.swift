// The optimisation loops (Sources/VoiceStyleInversion/Refinement.swift, Projector.swift) with their products in
// emulated bf16 (ComputePrecision.bf16Emulated; native bf16 too where the CPU has it): they converge (loss falls,
// no NaN) and end within measured bounds of the fp32 run. Every product of the small fixture models is put in bf16
// (the size threshold bound to 0). Bounds: the fp32-vs-bf16 differences measured on this project's AVX2 EPYC
// (README "Matrix products"), with ~3× headroom; the reference runs pin OpenBLAS.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleInversion
import VoiceStyleModels
import VoiceStyleTestSupport

/// The bf16 modes this CPU can run: emulated everywhere, native where present.
private var bf16Modes: [ComputePrecision] {
    CPUFeatures.detected.hasNativeBF16 ? [.bf16Emulated, .bf16] : [.bf16Emulated]
}

/// Runs `body` with every product (whatever its size) in `precision`.
private func inPrecision<R>(_ precision: ComputePrecision, _ body: () throws -> R) rethrows -> R {
    try ComputePrecision.$minimumMultiplyAdds.withValue(0) { try precision.run(body) }
}

/// max |a − b| / max |b|.
private func relativeDifference(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
    let scale = b.scalars.map { abs(Double($0)) }.max() ?? 1
    return zip(a.scalars, b.scalars).map { abs(Double($0) - Double($1)) }.max().map { $0 / max(scale, 1e-30) } ?? 0
}

@Suite("bf16 optimisation loops")
struct BF16LoopTests {
    @Test("refinement (100 steps, small generator, reduced CMPC) converges in bf16 and ends near fp32")
    func refinement() throws {
        guard let cmpcURL = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar"),
              let voiceURL = Fixtures.sharedFixture("voice/voice_frontend.safetensors") else { return }
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors")))
        let cmpc = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
        let fbank = try Fixtures.load(voiceURL).tensor("vs_id10845_0RsOMTn-DSM_00001.final").reshaped([1, 1, 64, 800])
        let voice = withoutGradients { cmpc.voice(fbank) }
        var rng = SeededGenerator(seed: 21)
        let w0 = withoutGradients { g.map(Tensor.randomNormal([1, 64], using: &rng)) }
        var config = RefinementConfig()
        config.steps = 100
        config.upstreamCompat = true
        func run(_ precision: ComputePrecision) throws -> (RefinementResult, [RefinementStep], Tensor<Float>) {
            var randomness = SeededProjectorRandomness(seed: 3)
            var steps: [RefinementStep] = []
            let r = try inPrecision(precision) {
                try Refiner(generator: g, cmpc: cmpc, identity: nil)
                    .refine(initial: w0, voice: voice, identityTarget: nil, latentStd: 1, config: config, randomness: &randomness,
                            onStep: { steps.append($0) })
            }
            let image = withoutGradients { g.synthesize(try! g.latents([r.latent], inputIsLatent: true), noise: r.noises) }
            return (r, steps, image)
        }
        let (r32, s32, image32) = try EngineChoice.$override.withValue(.blas) { try run(.fp32) }
        // The loop's own sensitivity: fp32 on oneDNN instead of OpenBLAS (other summation order only).
        let (rd, sd, imaged) = try EngineChoice.$override.withValue(.dnnl) { try run(.fp32) }
        print("refinement 100 steps, fp32 on oneDNN vs OpenBLAS: |Δ CMPC| \(abs((sd.last?.cmpc ?? 0) - (s32.last?.cmpc ?? 0))), "
              + "latent max rel. diff \(relativeDifference(rd.latent, r32.latent)), image max rel. diff \(relativeDifference(imaged, image32))")
        for mode in bf16Modes {
            let (r16, s16, image16) = try EngineChoice.$override.withValue(.blas) { try run(mode) }
            #expect(s16.allSatisfy { $0.total.isFinite } && r16.latent.scalars.allSatisfy(\.isFinite), "\(mode): NaN")
            let first = s16.first?.cmpc ?? 0, last = s16.last?.cmpc ?? 0, last32 = s32.last?.cmpc ?? 0
            let latent = relativeDifference(r16.latent, r32.latent), image = relativeDifference(image16, image32)
            print("refinement 100 steps, \(mode.rawValue) vs fp32: CMPC distance \(first) → \(last) (fp32 → \(last32)), "
                  + "|Δ CMPC| \(abs(last - last32)), latent max rel. diff \(latent), image max rel. diff \(image)")
            // Measured (AVX2 EPYC, emulated): CMPC 0.470 → 0.368–0.372 vs fp32 0.359 (92 % of fp32's decrease),
            // latent 0.12–0.15 and image 0.21–0.27 max rel. diff; fp32 on oneDNN vs OpenBLAS: 0.0016 / 0.0022.
            #expect(first - last >= 0.7 * ((s32.first?.cmpc ?? 0) - last32), "\(mode): CMPC distance fell too little (\(first) → \(last), fp32 → \(last32))")
            #expect(abs(last - last32) <= 0.04, "\(mode): CMPC \(last) vs fp32 \(last32)")
            #expect(latent < 0.4, "\(mode): latent differs from fp32 by \(latent)")
            #expect(image < 0.6, "\(mode): image differs from fp32 by \(image)")
        }
    }

    @Test("projector (100 W+ steps, small generator) converges in bf16 and ends near fp32")
    func projector() throws {
        guard let (g, projector, target, mean, std, config) = try SmallProjection.make() else { return }
        func run(_ precision: ComputePrecision) throws -> (ProjectionResult, Double, Double) {
            var randomness = SeededProjectorRandomness(seed: 5)
            let r = try inPrecision(precision) {
                try projector.project(target, config: config, latentMean: mean, latentStd: std, randomness: &randomness)
            }
            let final = withoutGradients { g.synthesize(try! g.latents([r.latent], inputIsLatent: true), noise: r.noises) }
            let mse = Double(withoutGradients { (final - target).square().mean() }.item)
            let network = try #require(projector.lpips, "the small projection uses LPIPS")
            let lpips = Double(withoutGradients { network(final, target) }.mean().item)
            return (r, mse, lpips)
        }
        let (r32, mse32, lpips32) = try EngineChoice.$override.withValue(.blas) { try run(.fp32) }
        for mode in bf16Modes {
            let (r16, mse16, lpips16) = try EngineChoice.$override.withValue(.blas) { try run(mode) }
            let startMSE = r16.steps.first?.mse ?? 0
            let latent = relativeDifference(r16.latent, r32.latent)
            print("projector 100 W+ steps, \(mode.rawValue) vs fp32: MSE \(startMSE) → \(mse16) (fp32 \(mse32)), "
                  + "LPIPS \(lpips16) (fp32 \(lpips32)), latent max rel. diff \(latent)")
            #expect(r16.steps.allSatisfy { $0.total.isFinite } && mse16.isFinite, "\(mode): NaN")
            // Measured (AVX2 EPYC, emulated): MSE 2.69 → 0.6149 vs fp32 0.6148, LPIPS 0.0853 vs 0.0852, latent 0.017–0.020.
            #expect(mse16 * 3 <= startMSE, "\(mode): MSE \(startMSE) → \(mse16)")
            #expect(abs(mse16 - mse32) <= 0.01 * mse32, "\(mode): MSE \(mse16) vs fp32 \(mse32)")
            #expect(abs(lpips16 - lpips32) <= 0.02 * lpips32, "\(mode): LPIPS \(lpips16) vs fp32 \(lpips32)")
            #expect(latent < 0.1, "\(mode): latent differs from fp32 by \(latent)")
        }
    }
}
