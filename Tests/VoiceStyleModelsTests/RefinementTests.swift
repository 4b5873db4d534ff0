// --upstream-compat refinement replayed against ../shared/fixtures/refine (voicestyle pipeline.py optimize,
// 4 steps, stored randomness, small generator, reduced CMPC).
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleInversion
import VoiceStyleModels
import VoiceStyleTestSupport

@Suite("Refinement (voicestyle optimize)")
struct RefinementTests {
    @Test("upstream-compatible refinement replays the stored 4 steps")
    func replay() throws {
        guard let url = Fixtures.sharedFixture("refine/refine_4steps.safetensors"), let cmpcURL = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar"),
              let voiceURL = Fixtures.sharedFixture("voice/voice_frontend.safetensors") else { return }
        let f = try Fixtures.load(url)
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors")))
        let cmpc = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
        let fbank = try Fixtures.load(voiceURL).tensor("vs_id10845_0RsOMTn-DSM_00001.final").reshaped([1, 1, 64, 800])
        let voice = withoutGradients { cmpc.voice(fbank) }
        expectForward(voice, try f.tensor("audio_emb"), "audio_emb")
        var config = RefinementConfig()
        config.steps = 4
        config.upstreamCompat = true
        var randomness = StoredRandomness(f: f)
        var steps: [RefinementStep] = []
        func afterUpdate(_ i: Int, _ latent: Tensor<Float>, _ noises: [Tensor<Float>]) {
            expectGradient(latent.grad, try! f.tensor("step\(i).grad_latent_in"), "step \(i) grad_latent_in")
            for (j, n) in noises.enumerated() { expectGradient(n.grad, try! f.tensor("step\(i).grad_noise_\(j)"), "step \(i) grad_noise_\(j)") }
            let refLatent = try! f.tensor("step\(i).latent_in_after")
            let refNoises = noises.indices.map { try! f.tensor("step\(i).noise_\($0)_after") }
            expectForward(latent, refLatent, "step \(i) latent_in_after")
            for (j, n) in noises.enumerated() { expectForward(n, refNoises[j], "step \(i) noise_\(j)_after") }
            latent.assign(refLatent)
            for (n, r) in zip(noises, refNoises) { n.assign(r) }
        }
        let result = try Refiner(generator: g, cmpc: cmpc, identity: nil)
            .refine(initial: try f.tensor("latent_code_init"), voice: voice, identityTarget: nil, latentStd: Float(try f.scalar("latent_std")),
                    config: config, randomness: &randomness, onStep: { steps.append($0) }, afterUpdate: afterUpdate)
        for s in steps {
            let i = s.step
            for (value, key) in [(s.cmpc, "c_loss"), (s.noiseRegularization, "n_loss"), (s.latentRegularization, "r_loss"), (s.total, "loss")] {
                let ref = try f.scalar("step\(i).\(key)")
                #expect(abs(value - ref) <= 1e-4 * max(1, abs(ref)), "step \(i) \(key): \(value) vs \(ref)")
            }
            #expect(Float(s.noiseStrength) == Float(try f.scalar("step\(i).noise_strength")))
        }
        let final = withoutGradients { g.synthesize(try! g.latents([result.latent], inputIsLatent: true), noise: result.noises) }
        expectForward(final, try f.tensor("final_img"), "final_img")
    }
}
