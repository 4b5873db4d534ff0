// The small rosinality generator against ../shared/fixtures/generator (copied into the test targets):
// z / W / W+ inputs, truncation, stored noise, style mixing, mean latent, gradients, every checkpoint
// variant; architecture inference from the full-size key manifests.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleModels
import VoiceStyleTestSupport

private func checkpointFixture(_ name: String) -> URL { Fixtures.local("VoiceStyleCheckpointsTests", name) }

private func loadSmall() throws -> (StyleGAN2Generator, FixtureFile) {
    let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(checkpointFixture("g_small_state_dict.safetensors")))
    return (g, try Fixtures.load(Fixtures.local("VoiceStyleModelsTests", "g_small_fixture.safetensors")))
}

private func noises(_ f: FixtureFile) throws -> [Tensor<Float>] { try (0..<7).map { try f.tensor("noise_\($0)") } }

@Suite("StyleGAN2 generator (small fixture generator)")
struct GeneratorTests {
    @Test("architecture inferred from the state dict")
    func architecture() throws {
        let (g, _) = try loadSmall()
        #expect(g.config.size == 32 && g.config.styleDim == 64 && g.config.mappingLayers == 3)
        #expect(g.config.channels == [4: 32, 8: 28, 16: 24, 32: 16])
        #expect(g.config.latentCount == 8 && g.config.noiseCount == 7)
        #expect(g.storedNoise?.count == 7)
    }

    @Test("W, z, W+, truncation, stored noise and style mixing outputs")
    func forwardOutputs() throws {
        let (g, f) = try loadSmall()
        let n = try noises(f)
        let w = try f.tensor("w"), z = try f.tensor("z"), trunc = try f.tensor("truncation_latent")
        let (imgW, latW) = try g([w], inputIsLatent: true, noise: .given(n))
        expectForward(imgW, try f.tensor("img_w"), "img_w")
        expectForward(latW, try f.tensor("latent_w"), "latent_w")
        let (imgZ, latZ) = try g([z], noise: .given(n))
        expectForward(imgZ, try f.tensor("img_z"), "img_z")
        expectForward(latZ, try f.tensor("latent_z"), "latent_z")
        expectForward(try g([z], noise: .given(n), truncation: 0.7, truncationLatent: trunc).image, try f.tensor("img_z_trunc0.7"), "img_z_trunc0.7")
        expectForward(try g([w], inputIsLatent: true, noise: .given(n), truncation: 0.7, truncationLatent: trunc).image,
                      try f.tensor("img_w_trunc0.7"), "img_w_trunc0.7")
        expectForward(try g([try f.tensor("wplus")], inputIsLatent: true, noise: .given(n)).image, try f.tensor("img_wplus"), "img_wplus")
        expectForward(try g([w], inputIsLatent: true, noise: .stored).image, try f.tensor("img_w_buffers"), "img_w_buffers")
        let (mix, mixLatent) = try g([z, try f.tensor("z2")], noise: .given(n), injectIndex: 3)
        expectForward(mix, try f.tensor("img_mix_inject3"), "img_mix_inject3")
        expectForward(mixLatent, try f.tensor("latent_mix_inject3"), "latent_mix_inject3")
    }

    @Test("mean latent and the projector's latent mean and scalar σ")
    func meanLatent() throws {
        let (g, f) = try loadSmall()
        let w = withoutGradients { g.map(try! f.tensor("z_mean_samples")) }
        let mean = w.mean(axes: [0], keepDims: true)
        expectForward(mean, try f.tensor("mean_latent"), "mean_latent")
        expectForward(mean.reshaped([64]), try f.tensor("latent_mean"), "latent_mean")
        let std = ((w - mean).square().sum() / 2000).sqrt()
        expectForward(std.reshaped([1]), try f.tensor("latent_std"), "latent_std")
    }

    @Test("gradients with respect to W, every noise map, W+ and z")
    func gradients() throws {
        let (g, f) = try loadSmall()
        let r = try f.tensor("R")
        let w = try f.tensor("w"), n = try noises(f)
        w.requiresGrad = true
        for m in n { m.requiresGrad = true }
        (try g([w], inputIsLatent: true, noise: .given(n)).image * r).sum().backward()
        expectGradient(w.grad, try f.tensor("grad_w"), "grad_w")
        for (i, m) in n.enumerated() { expectGradient(m.grad, try f.tensor("grad_noise_\(i)"), "grad_noise_\(i)") }
        let wplus = try f.tensor("wplus")
        wplus.requiresGrad = true
        (try g([wplus], inputIsLatent: true, noise: .given(try noises(f))).image * r).sum().backward()
        expectGradient(wplus.grad, try f.tensor("grad_wplus"), "grad_wplus")
        let z = try f.tensor("z")
        z.requiresGrad = true
        (try g([z], noise: .given(try noises(f))).image * r).sum().backward()
        expectGradient(z.grad, try f.tensor("grad_z"), "grad_z")
    }

    @Test("every checkpoint variant loads to the same output", arguments: [
        "ckpt_small_train_zip.pt", "ckpt_small_train_legacy.pt", "ckpt_small_convert_zip.pt", "ckpt_small_convert_legacy.pt",
        "g_ema_state_dict_zip.pt", "g_ema_state_dict_legacy.pt", "g_small_state_dict.safetensors",
    ])
    func checkpointVariants(_ name: String) throws {
        let f = try Fixtures.load(Fixtures.local("VoiceStyleModelsTests", "g_small_fixture.safetensors"))
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(checkpointFixture(name)))
        expectForward(try g([try f.tensor("w")], inputIsLatent: true, noise: .given(try noises(f))).image, try f.tensor("img_w"), name)
        #expect((g.latentAverage != nil) == (name.hasPrefix("ckpt_small")), "latent_avg presence in \(name)")
    }

    @Test("full-size key manifests: 256 px (channel multiplier 2) and 1024 px config-f", arguments: [
        ("generator_256_state_dict_keys.json", 256, 14, [4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128]),
        ("generator_1024_state_dict_keys.json", 1024, 18, [4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32]),
    ])
    func manifests(_ c: (String, Int, Int, [Int: Int])) throws {
        guard let url = Fixtures.sharedFixture("manifests/\(c.0)") else { return }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let keys = (json["state_dict"] as! [[String: Any]]).map { ($0["key"] as! String, $0["shape"] as! [Int]) }
        // Shapes only: zero-filled float32 tensors; noise buffers dropped, as in 550000.pt.
        let tensors = keys.filter { !$0.0.hasPrefix("noises.") }.map { key, shape in
            (key, StoredTensor(dtype: .float32, shape: shape, bytes: Data(count: shape.reduce(1, *) * 4)))
        }
        let g = try StyleGAN2Generator(stateDict: StateDict(file: c.0, tensors: tensors))
        #expect(g.config.size == c.1 && g.config.latentCount == c.2 && g.config.styleDim == 512 && g.config.mappingLayers == 8)
        #expect(g.config.channels == c.3)
        #expect(g.storedNoise == nil)
        #expect(throws: GeneratorError.noStoredNoise) { _ = try g.noise(.stored, batch: 1) }
    }

    @Test("missing, unexpected and mis-shaped keys are all listed")
    func badStateDict() throws {
        var tensors = try Checkpoint.open(checkpointFixture("g_small_state_dict.safetensors")).tensors()
        tensors.removeAll { $0.name == "conv1.noise.weight" || $0.name == "to_rgbs.1.bias" }
        tensors.append(("extra.weight", StoredTensor(Tensor<Float>(zeros: [2]))))
        let i = tensors.firstIndex { $0.name == "style.2.bias" }!
        tensors[i].tensor = StoredTensor(Tensor<Float>(zeros: [63]))
        do {
            _ = try StyleGAN2Generator(stateDict: StateDict(file: "bad.pt", tensors: tensors))
            Issue.record("no error")
        } catch let e as StateDictError {
            #expect(e.missing == ["conv1.noise.weight", "to_rgbs.1.bias"])
            #expect(e.unexpected == ["extra.weight"])
            #expect(e.misShaped.map(\.0) == ["style.2.bias"])
            #expect("\(e)".contains("bad.pt"))
        }
    }

    @Test("seeded random noise is reproducible; bad explicit noise is refused")
    func noiseModes() throws {
        let (g, f) = try loadSmall()
        let a = try g.noise(.random(seed: 3), batch: 2), b = try g.noise(.random(seed: 3), batch: 2)
        #expect(zip(a, b).allSatisfy { $0.scalars == $1.scalars })
        #expect(a[6].shape == [2, 1, 32, 32])
        #expect(throws: GeneratorError.self) { _ = try g.noise(.given(Array(a.prefix(6))), batch: 2) }
        var bad = a
        bad[2] = Tensor(zeros: [2, 1, 9, 9])
        #expect(throws: GeneratorError.self) { _ = try g.noise(.given(bad), batch: 2) }
        let zero = try g([try f.tensor("w")], inputIsLatent: true, noise: .zero).image
        #expect(zero.shape == [2, 3, 32, 32])
        #expect(throws: GeneratorError.self) { _ = try g([try f.tensor("w")], inputIsLatent: true, noise: .zero, truncation: 0.5) }
    }
}
