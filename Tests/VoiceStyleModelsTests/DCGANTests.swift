// The 64-px face DCGAN (gan-face-generate 1.1.1) against Fixtures/dcgan (scripts/fixtures/dcgan_fixtures.py runs the
// package's own models.py): a reduced-width generator with seeded random weights always, the trained weights when
// checkpoints/dcgan-faces-64.pth is there; strict loading, the checkpoint layouts, family recognition.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleModels
import VoiceStyleTestSupport

private func fixture(_ name: String) throws -> FixtureFile {
    try Fixtures.load(Fixtures.local("VoiceStyleModelsTests", "dcgan/\(name).safetensors"))
}

/// The reduced generator's state dict (`sd.*` of its fixture), keys as upstream's.
private func reducedStateDict() throws -> StateDict {
    try StateDict(Checkpoint.open(Fixtures.local("VoiceStyleModelsTests", "dcgan/dcgan_reduced_random.safetensors")), path: "sd")
}

/// Largest |a − r| over all elements.
private func maxAbsDiff(_ a: Tensor<Float>, _ r: Tensor<Float>) -> Double {
    zip(a.buffer, r.buffer).reduce(0.0) { Swift.max($0, Swift.abs(Double($1.0) - Double($1.1))) }
}

/// Runs `g` on the fixture's z and checks the output (max abs ≤ 1e-5) and d Σ(output·R)/dz (≤ 1e-4 relative).
private func expectMatches(_ g: DCGANGenerator, _ f: FixtureFile, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let z = try f.tensor("z"), want = try f.tensor("output")
    z.requiresGrad = true
    let out = g(z)
    #expect(out.shape == want.shape, "\(what): output \(out.shape) vs \(want.shape)", sourceLocation: sourceLocation)
    let err = maxAbsDiff(out, want)
    (out * (try f.tensor("R"))).sum().backward()
    let gradErr = try z.grad.map { relativeError($0, try f.tensor("grad_z")) } ?? .infinity
    print("\(what): output max |Δ| = \(err), z-gradient relative error = \(gradErr)")
    #expect(err <= 1e-5, "\(what): output max |Δ| \(err) > 1e-5", sourceLocation: sourceLocation)
    #expect(gradErr <= 1e-4, "\(what): z-gradient relative error \(gradErr) > 1e-4", sourceLocation: sourceLocation)
}

@Suite("DCGAN generator (gan-face-generate 64 px)")
struct DCGANTests {
    @Test("reduced random generator: widths inferred, forward and z-gradient match upstream")
    func reduced() throws {
        let g = try DCGANGenerator(stateDict: reducedStateDict())
        #expect(g.config.latentDim == 32 && g.config.widths == [40, 20, 10, 5] && g.config.channels == 3 && g.config.size == 64)
        try expectMatches(g, try fixture("dcgan_reduced_random"), "reduced DCGAN")
        // [B, nz] input gives the same images as [B, nz, 1, 1].
        let z = try fixture("dcgan_reduced_random").tensor("z")
        let flat = withoutGradients { g(z.reshaped([4, 32])) }, square = withoutGradients { g(z) }
        #expect(flat.scalars == square.scalars)
    }

    @Test("trained weights (checkpoints/dcgan-faces-64.pth): forward and z-gradient match upstream")
    func trained() throws {
        let url = Fixtures.repoRoot.appendingPathComponent("checkpoints/dcgan-faces-64.pth")
        guard FileManager.default.fileExists(atPath: url.path) else {
            print("skipped: \(url.path) is absent (scripts/setup extracts gan-face-generate 1.1.1's weights.tar there)")
            return
        }
        let checkpoint = try Checkpoint.open(url)
        #expect(checkpoint.format == .pytorchZip)
        #expect(DCGANGenerator.recognizes(checkpoint))
        let g = try DCGANGenerator(checkpoint: checkpoint)
        #expect(g.config == DCGANConfig())
        try expectMatches(g, try fixture("dcgan_faces64_real"), "trained DCGAN")
    }

    @Test("a bad state dict is refused with every problem listed at once")
    func strict() throws {
        let sd = try reducedStateDict()
        var tensors = sd.keys.map { ($0, sd.entries[$0]!) }
        tensors.removeAll { $0.0 == "main.4.running_var" || $0.0 == "main.1.num_batches_tracked" }  // the latter is optional
        let i = tensors.firstIndex { $0.0 == "main.7.weight" }!
        tensors[i].1 = StoredTensor(dtype: .float32, shape: [7], bytes: Data(count: 28))
        tensors.append(("main.13.weight", StoredTensor(dtype: .float32, shape: [1], bytes: Data(count: 4))))
        let bad = StateDict(file: "bad.safetensors", tensors: tensors.map { (name: $0.0, tensor: $0.1) })
        do {
            _ = try DCGANGenerator(stateDict: bad)
            Issue.record("a bad state dict loaded")
        } catch let e as StateDictError {
            #expect(e.model == "DCGAN generator" && e.file == "bad.safetensors")
            #expect(e.missing == ["main.4.running_var"] && e.unexpected == ["main.13.weight"])
            #expect(e.misShaped.map { "\($0)" } == ["(\"main.7.weight\", [10], [7])"])
            print("bad state dict: \(e)")
        }
        // A convolution missing: the widths cannot be inferred; the error names it.
        let noConv = StateDict(file: "noconv", tensors: sd.keys.filter { $0 != "main.6.weight" }.map { ($0, sd.entries[$0]!) })
        do {
            _ = try DCGANGenerator(stateDict: noConv)
            Issue.record("a state dict without main.6.weight loaded")
        } catch let e as StateDictError {
            #expect(e.missing == ["main.6.weight"])
        }
        // A width that does not chain: main.3.weight [40, 20, 4, 4] fed by a wider main.0.
        var wide = sd.keys.map { ($0, sd.entries[$0]!) }
        let j = wide.firstIndex { $0.0 == "main.0.weight" }!
        wide[j].1 = StoredTensor(dtype: .float32, shape: [32, 41, 4, 4], bytes: Data(count: 32 * 41 * 16 * 4))
        do {
            _ = try DCGANGenerator(stateDict: StateDict(file: "wide", tensors: wide.map { (name: $0.0, tensor: $0.1) }))
            Issue.record("a state dict with mismatched widths loaded")
        } catch let e as StateDictError {
            #expect(e.misShaped.map(\.0) == ["main.1.weight", "main.1.bias", "main.1.running_mean", "main.1.running_var", "main.3.weight"])
        }
    }

    @Test("checkpoint layouts: gan-face-generate's nested netG_state_dict and a bare PyTorch zip state dict")
    func layouts() throws {
        let sd = try reducedStateDict()
        let want = try withoutGradients { try DCGANGenerator(stateDict: sd)(fixture("dcgan_reduced_random").tensor("z")) }
        let tensors = sd.keys.map { (name: $0, tensor: sd.entries[$0]!) }
        // {"netG_state_dict": {...}} as a flat file with dotted names.
        let nested = try SafeTensorsFile(tensors: tensors.map { (name: "netG_state_dict." + $0.name, tensor: $0.tensor) }).serialized()
        let nestedCheckpoint = try Checkpoint.parse(nested, file: "nested.safetensors")
        #expect(DCGANGenerator.recognizes(nestedCheckpoint))
        let z = try fixture("dcgan_reduced_random").tensor("z")
        #expect(withoutGradients { try! DCGANGenerator(checkpoint: nestedCheckpoint)(z) }.scalars == want.scalars)
        // torch.save(state_dict) zip.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dcgan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bare.pth")
        try PyTorchFile.writeZip(stateDict: tensors, to: url)
        #expect(DCGANGenerator.recognizes(try Checkpoint.open(url)))
        #expect(withoutGradients { try! DCGANGenerator(contentsOf: url)(z) }.scalars == want.scalars)
    }

    @Test("the family is recognised from its keys")
    func family() throws {
        let keys = DCGANConfig().parameterSpecs.map(\.key)
        #expect(keys.first == "main.0.weight" && keys.last == "main.12.weight" && keys.count == 5 + 4 * 5)
        #expect(DCGANGenerator.recognizes(keys: keys))
        #expect(DCGANGenerator.recognizes(keys: keys.filter { !$0.hasSuffix("num_batches_tracked") }))
        #expect(!DCGANGenerator.recognizes(keys: keys + ["main.13.weight"]))
        #expect(!DCGANGenerator.recognizes(keys: keys.filter { $0 != "main.12.weight" }))
        #expect(!DCGANGenerator.recognizes(keys: GeneratorConfig().parameterSpecs.map(\.key)))
        #expect(try Set(DCGANConfig(latentDim: 32, featureMaps: 5).parameterSpecs.map(\.key)) == Set(reducedStateDict().keys))  // safetensors sorts its keys
    }

    @Test("seeded random weights: deterministic, images in (−1, 1) with spread")
    func random() throws {
        let cfg = DCGANConfig(latentDim: 16, featureMaps: 4)
        let a = try DCGANGenerator.random(cfg, seed: 5), b = try DCGANGenerator.random(cfg, seed: 5)
        var rng = SeededGenerator(seed: 1)
        let z = a.sampleLatent(batch: 2, using: &rng)
        #expect(z.shape == [2, 16])
        let x = withoutGradients { a(z) }
        #expect(x.shape == [2, 3, 64, 64] && x.scalars == withoutGradients { b(z) }.scalars)
        #expect(x.buffer.allSatisfy { $0 > -1 && $0 < 1 })
        let mean = x.buffer.reduce(0, +) / Float(x.count)
        let std = (x.buffer.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(x.count)).squareRoot()
        #expect(std > 0.05, "random DCGAN output is nearly constant (std \(std))")
    }
}
