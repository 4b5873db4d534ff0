// `voicestyle infer` end to end with the reduced fixture models: a small index of real faces, a real
// VoxCeleb clip, the small generator; determinism; bad inputs.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

private struct Setup {
    let models: InferenceModels
    let index: PrototypeIndex
    let faces: URL
    let features: Tensor<Float>
}

/// A 12-image index (4 identities × 3) built with the reduced CMPC, and the reduced networks.
private func setup() throws -> Setup? {
    guard let cmpcURL = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar"),
          let irseURL = Fixtures.sharedFixture("irse50/irse50_reduced_state_dict.safetensors"),
          let lpipsURL = Fixtures.sharedFixture("lpips/lpips_vgg_reduced_state_dict.safetensors") else { return nil }
    let src = Fixtures.shared.appendingPathComponent("data/faces/vgg_frontal")
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-infer-\(UUID().uuidString)")
    for id in ["Julia_Stiles", "Jeremy_Irvine", "Freida_Pinto", "Harry_Treadaway"] {
        try FileManager.default.createDirectory(at: root.appendingPathComponent("faces/\(id)"), withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: src.appendingPathComponent(id).path).sorted().prefix(3) {
            try FileManager.default.copyItem(at: src.appendingPathComponent("\(id)/\(f)"), to: root.appendingPathComponent("faces/\(id)/\(f)"))
        }
    }
    let cmpc = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
    let dir = root.appendingPathComponent("index")
    try PrototypeIndex.build(directory: dir, source: .folder(root.appendingPathComponent("faces"), identityLevel: 1), cmpc: cmpc,
                             cmpcSHA256: try SHA256.hex(file: cmpcURL))
    let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors")))
    let models = InferenceModels(generator: g, cmpc: cmpc, identity: IdentityLoss(network: try IRSE50(stateDict: StateDict(Checkpoint.open(irseURL))))) {
        try LPIPS(lpipsStateDict: StateDict(Checkpoint.open(lpipsURL)))
    }
    let clip = Fixtures.shared.appendingPathComponent("data/voices/voxceleb/id10845_0RsOMTn-DSM_00001.wav")
    return Setup(models: models, index: try PrototypeIndex(directory: dir), faces: root.appendingPathComponent("faces"),
                 features: try VoiceFrontEnd().features(try Waveform.read(clip)))
}

private func config(seed: UInt64) -> InferenceConfig {
    var c = InferenceConfig()
    c.k = 4
    c.seed = seed
    c.meanLatentSamples = 1000
    c.projector.steps = 10
    c.refinement.steps = 25
    return c
}

@Suite("Inference", .serialized)
struct InferenceTests {
    @Test("end to end: outputs, falling CMPC loss, same seed → identical, other seed → different; cached latents are used")
    func endToEnd() throws {
        guard let s = try setup() else { return }
        let a = try InferencePipeline.run(features: s.features, index: s.index, models: s.models, config: config(seed: 1))
        let noneCached = a.prototypes.allSatisfy { !$0.latentWasCached }
        #expect(a.prototypes.count == 4 && noneCached)
        #expect(a.face.width == 32 && a.face.pixels.count == 32 * 32 * 3)
        let decoded = try PNGCodec.decode(PNGCodec.encode(a.face))
        #expect(decoded == a.face)
        let first = a.steps.prefix(3).map(\.cmpc).reduce(0, +), last = a.steps.suffix(3).map(\.cmpc).reduce(0, +)
        #expect(last < first, "CMPC distance \(first / 3) → \(last / 3)")
        // The second run reads the latents the first one cached, and reproduces it exactly.
        let again = try InferencePipeline.run(features: s.features, index: try PrototypeIndex(directory: s.index.directory), models: s.models, config: config(seed: 1))
        let allCached = again.prototypes.allSatisfy { $0.latentWasCached }
        #expect(allCached)
        #expect(again.face == a.face && again.latent.scalars == a.latent.scalars)
        // The sheet: 4 prototypes, the averaged and the refined face in one row, tiles of at least 128 px
        // with 2-line captions (scale 1: 2·9 + 2 px); the same seed gives the same bytes.
        #expect(a.sheetCaptions.count == 6 && a.sheetCaptions[0][0].hasPrefix("#1 ") && a.sheetCaptions[5][0] == "refined face")
        #expect(a.sheet.width == 6 * 130 + 2 && a.sheet.height == 128 + 20 + 2 + 2)
        #expect(try PNGCodec.encode(again.sheet) == PNGCodec.encode(a.sheet))
        let other = try InferencePipeline.run(features: s.features, index: try PrototypeIndex(directory: s.index.directory), models: s.models, config: config(seed: 2))
        #expect(other.face != a.face)
        // Upstream-compatible refinement runs too (no identity term).
        var compat = config(seed: 1)
        compat.refinement.upstreamCompat = true
        let u = try InferencePipeline.run(features: s.features, index: try PrototypeIndex(directory: s.index.directory), models: s.models, config: compat)
        let plain = u.steps.allSatisfy { $0.identity == 0 && $0.anchor == 0 }
        #expect(plain)
    }

    @Test("a corrupt prototype image is skipped with a warning; silent audio, missing checkpoints and empty indexes are errors")
    func badInputs() throws {
        guard let s = try setup() else { return }
        // Corrupt the best prototype's file (no latent cached yet).
        let hits = try s.index.searchInstances(withoutGradients { s.models.cmpc.voice(s.features.reshaped([1, 1, 64, -1])) }.scalars, k: 1)
        try Data("garbage".utf8).write(to: s.faces.appendingPathComponent(hits[0].path))
        let r = try InferencePipeline.run(features: s.features, index: s.index, models: s.models, config: config(seed: 1))
        #expect(r.skipped.map(\.path) == [hits[0].path])
        #expect(r.prototypes.count == 3)
        // Silent audio.
        #expect(throws: AudioError.self) { _ = try VoiceFrontEnd().features(Waveform(samples: [Int16](repeating: 0, count: 48_000))) }
        // Missing checkpoint: named, with where to get it.
        do { _ = try ModelFile.generator.resolve("/nonexistent/550000.pt"); Issue.record("no error") } catch let e as ModelFileError {
            #expect("\(e)".contains("550000.pt") && "\(e)".contains("rosinality"))
        }
        // Empty index.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("vs-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("faces"), withIntermediateDirectories: true)
        let cmpcSHA = try SHA256.hex(file: Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar")!)
        try PrototypeIndex.build(directory: empty.appendingPathComponent("index"), source: .folder(empty.appendingPathComponent("faces"), identityLevel: 1),
                                 cmpc: s.models.cmpc, cmpcSHA256: cmpcSHA)
        let emptyIndex = try PrototypeIndex(directory: empty.appendingPathComponent("index"))
        #expect(throws: (any Error).self) { _ = try InferencePipeline.run(features: s.features, index: emptyIndex, models: s.models, config: config(seed: 1)) }
    }
}
