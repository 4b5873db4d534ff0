// `Jobs.infer` end to end with the reduced fixture models: a small index of real faces, a real VoxCeleb clip,
// the small generator; determinism; cached latents; bad inputs.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

private struct Setup {
    let models: ModelPaths
    let index: String
    let faces: URL
    let voice: String
}

/// A 12-image index (4 identities × 3) built with the reduced CMPC; the reduced networks' files.
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
    var build = BuildIndexRequest(index: root.appendingPathComponent("index").path, faces: root.appendingPathComponent("faces").path)
    build.cmpc = cmpcURL.path
    _ = try Jobs.buildIndex(build, models: ModelLoader())
    let models = ModelPaths(generator: Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors").path,
                            identity: irseURL.path, vgg: lpipsURL.path)
    return Setup(models: models, index: build.index, faces: root.appendingPathComponent("faces"),
                 voice: Fixtures.shared.appendingPathComponent("data/voices/voxceleb/id10845_0RsOMTn-DSM_00001.wav").path)
}

private func request(_ s: Setup, seed: UInt64) -> InferRequest {
    var r = InferRequest(voice: s.voice, index: s.index)
    r.models = s.models
    r.config.k = 4
    r.config.seed = seed
    r.config.meanLatentSamples = 1000
    r.config.inversion.projector.meanLatentSamples = 1000
    r.config.inversion.projector.steps = 10
    r.config.refinement.steps = 25
    return r
}

@Suite("Inference", .serialized)
struct InferenceTests {
    @Test("end to end: outputs, falling CMPC loss, same seed → identical, other seed → different; cached latents are used")
    func endToEnd() throws {
        guard let s = try setup() else { return }
        let loader = ModelLoader()
        let a = try Jobs.infer(request(s, seed: 1), models: loader)
        #expect(a.report.prototypes.count == 4 && a.report.prototypes.allSatisfy { $0.latentSource == .inverted })
        #expect(a.face.width == 32 && a.face.pixels.count == 32 * 32 * 3)
        #expect(try PNGCodec.decode(PNGCodec.encode(a.face)) == a.face)
        let first = a.report.steps.prefix(3).map(\.cmpc).reduce(0, +), last = a.report.steps.suffix(3).map(\.cmpc).reduce(0, +)
        #expect(last < first, "CMPC distance \(first / 3) → \(last / 3)")
        // The CMPC checkpoint came from the index (none given), and every model is named with its sha256.
        #expect(Set(a.report.checkpoints.keys) == ["generator", "cmpc", "irse50"])
        #expect(a.report.checkpoints["cmpc"]?.path.hasSuffix("model_best_256_reduced.pth.tar") == true)
        // The second run reads the latents the first one cached, and reproduces it exactly.
        let again = try Jobs.infer(request(s, seed: 1), models: loader)
        #expect(again.report.prototypes.allSatisfy { $0.latentSource == .cache })
        #expect(again.face == a.face && again.latent.scalars == a.latent.scalars)
        // The sheet: 4 prototypes, the averaged and the refined face in one row, the 4 inversions under their
        // photos, tiles of at least 128 px with 2-line captions; the same seed gives the same bytes.
        #expect(a.sheetCaptions.count == 10 && a.sheetCaptions[0][0].hasPrefix("#1 ") && a.sheetCaptions[5][0] == "refined face")
        #expect(a.sheetCaptions[6] == ["#1 inverted", "latent: inverted now"] && again.sheetCaptions[9] == ["#4 inverted", "latent: cached"])
        #expect(a.sheet.width == 6 * 130 + 2 && a.sheet.height == 2 * (128 + ImageTensors.captionStripHeight(lines: 2, tileWidth: 128) + 2) + 2)
        #expect(again.sheet.width == a.sheet.width && again.inversions.map { $0?.pixels } == a.inversions.map { $0?.pixels })
        // Files: written, and report.json decodes back to the report.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("vs-infer-out-\(UUID().uuidString)")
        try a.write(to: out)
        let decoded = try decodeReport(InferReport.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        #expect(decoded == a.report)
        let json = try String(contentsOf: out.appendingPathComponent("report.json"), encoding: .utf8)
        #expect(json.contains("\"latent_source\" : \"inverted\""))
        #expect(try NumPyFile.readNpy(out.appendingPathComponent("latent.npy")).shape == [1, 64])
        let other = try Jobs.infer(request(s, seed: 2), models: loader)
        #expect(other.face != a.face)
        // Upstream-compatible refinement runs too (no identity term).
        var compat = request(s, seed: 1)
        compat.config.refinement.upstreamCompat = true
        let u = try Jobs.infer(compat, models: loader)
        #expect(u.report.steps.allSatisfy { $0.identity == 0 && $0.anchor == 0 })
    }

    @Test("a corrupt prototype image is skipped with a warning; silent audio, missing checkpoints, bad options and empty indexes are errors")
    func badInputs() throws {
        guard let s = try setup() else { return }
        let loader = ModelLoader()
        // Corrupt the best prototype's file (no latent cached yet).
        var search = SearchRequest(index: s.index)
        search.voice = s.voice
        search.k = 1
        let hits = try Jobs.search(search, models: loader)
        try Data("garbage".utf8).write(to: s.faces.appendingPathComponent(hits[0].path))
        let r = try Jobs.infer(request(s, seed: 1), models: loader)
        #expect(r.report.skipped.map(\.path) == [hits[0].path])
        #expect(r.report.prototypes.count == 3)
        // Silent audio.
        #expect(throws: AudioError.self) { _ = try VoiceFrontEnd().features(Waveform(samples: [Int16](repeating: 0, count: 48_000))) }
        // Missing checkpoint: named, with where to get it.
        do { _ = try ModelFile.generator.resolve("/nonexistent/550000.pt"); Issue.record("no error") } catch let e as ModelFileError {
            #expect("\(e)".contains("550000.pt") && "\(e)".contains("rosinality"))
        }
        // Options out of range are refused before any work, naming the option.
        var bad = request(s, seed: 1)
        bad.config.temperature = -1
        #expect(throws: JobError.self) { _ = try Jobs.infer(bad, models: loader) }
        bad = request(s, seed: 1)
        bad.config.refinement.steps = -5
        do { _ = try Jobs.infer(bad, models: loader); Issue.record("no error") } catch { #expect((error as? JobError)?.field == "steps") }
        // An empty face folder is refused before an empty index is made.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("vs-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("faces"), withIntermediateDirectories: true)
        var build = BuildIndexRequest(index: empty.appendingPathComponent("index").path, faces: empty.appendingPathComponent("faces").path)
        build.cmpc = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar")?.path
        do { _ = try Jobs.buildIndex(build, models: loader); Issue.record("no error") } catch { #expect("\(error)".contains("holds no files")) }
        var onMissing = request(s, seed: 1)
        onMissing.index = build.index
        #expect(throws: (any Error).self) { _ = try Jobs.infer(onMissing, models: loader) }
    }
}
