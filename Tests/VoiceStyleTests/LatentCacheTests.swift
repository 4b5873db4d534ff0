// One prototype-latent routine for `index invert` and `infer`: cached latents are keyed to the generator and
// the inversion settings, and reused exactly when the key matches. Runs on the demo's bundled faces and
// untrained models, so it needs nothing outside the repository.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// A loader with the demo models, an index of 3 identities' bundled faces, and a request template.
private func demoIndex() throws -> (ModelLoader, String) {
    let loader = ModelLoader()
    try Demo.register(in: loader)
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-cache-\(UUID().uuidString)")
    for id in ["Freida_Pinto", "Garrett_Hedlund", "Julia_Stiles"] {
        try FileManager.default.createDirectory(at: root.appendingPathComponent("faces"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try Demo.data.appendingPathComponent("faces/\(id)"), to: root.appendingPathComponent("faces/\(id)"))
    }
    var build = BuildIndexRequest(index: root.appendingPathComponent("index").path, faces: root.appendingPathComponent("faces").path)
    build.cmpc = Demo.models.cmpc
    let report = try Jobs.buildIndex(build, models: loader)
    #expect(report.summary.embedded == 12)
    return (loader, build.index)
}

private func settings(steps: Int = 3) -> PrototypeInversionSettings {
    var s = PrototypeInversionSettings()
    s.projector.steps = steps
    s.projector.meanLatentSamples = 500
    return s
}

private func invertRequest(_ index: String) -> InvertPrototypesRequest {
    var r = InvertPrototypesRequest(index: index)
    r.settings = settings()
    r.models = Demo.models
    return r
}

private func infer(_ index: String, loader: ModelLoader, k: Int = 3) throws -> InferenceResult {
    var r = InferRequest(voice: try Demo.voices[0].path, index: index)
    r.models = Demo.models
    r.config.k = k
    r.config.refinement.steps = 2
    r.config.meanLatentSamples = 500
    r.config.inversion = settings()
    return try Jobs.infer(r, models: loader)
}

@Suite("Prototype latent cache", .serialized)
struct LatentCacheTests {
    @Test("index invert then infer: every prototype comes from the cache")
    func invertThenInfer() throws {
        let (loader, index) = try demoIndex()
        let inv = invertRequest(index)
        let first = try Jobs.invertPrototypes(inv, models: loader)
        #expect(first.inverted == 12 && first.cached == 0)
        let result = try infer(index, loader: loader)
        #expect(result.report.prototypes.count == 3)
        #expect(result.report.prototypes.allSatisfy { $0.latentSource == .cache })
        // A second index invert has nothing left to do.
        let again = try Jobs.invertPrototypes(inv, models: loader)
        #expect(again.inverted == 0 && again.cached == 12)
    }

    @Test("latents an infer inverted are cached for index invert (one seed rule), bit for bit")
    func inferThenInvert() throws {
        let (loader, index) = try demoIndex()
        let result = try infer(index, loader: loader)
        #expect(result.report.prototypes.allSatisfy { $0.latentSource == .inverted })
        let used = Set(result.report.prototypes.map(\.path))
        let inv = invertRequest(index)
        let report = try Jobs.invertPrototypes(inv, models: loader)
        #expect(report.cached == 3 && report.inverted == 9)
        #expect(Set(report.prototypes.filter { $0.latentSource == .cache }.map(\.path)) == used)
        // The same prototype inverted by index invert in a fresh index equals what infer cached.
        let (loader2, index2) = try demoIndex()
        var only = inv
        only.index = index2
        only.paths = Array(used)
        _ = try Jobs.invertPrototypes(only, models: loader2)
        let a = try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: index))), b = try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: index2)))
        for p in used { #expect(try a.record(path: p)?.latent == b.record(path: p)?.latent, "\(p)") }
    }

    @Test("another generator, W+ or other steps: the cached latent is not reused")
    func keyMismatch() throws {
        let (loader, index) = try demoIndex()
        var inv = invertRequest(index)
        inv.paths = ["Freida_Pinto/00000002.jpg"]
        #expect(try Jobs.invertPrototypes(inv, models: loader).inverted == 1)
        #expect(try Jobs.invertPrototypes(inv, models: loader).cached == 1)
        var steps = inv
        steps.settings.projector.steps = 4
        #expect(try Jobs.invertPrototypes(steps, models: loader).inverted == 1)
        var wPlus = steps
        wPlus.settings.projector.wPlus = true
        let plus = try Jobs.invertPrototypes(wPlus, models: loader)
        #expect(plus.inverted == 1)
        #expect(try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: index))).record(path: "Freida_Pinto/00000002.jpg")?.latentValues?.count == 8 * 64)
        // Another generator (same architecture, other weights).
        var g = GeneratorConfig()
        (g.size, g.styleDim, g.mappingLayers, g.channels) = (32, 64, 4, [4: 64, 8: 64, 16: 32, 32: 32])
        loader.register(try StyleGAN2Generator.random(g, seed: 99), as: "other:generator", sha256: "other-generator")
        var other = wPlus
        other.models.generator = "other:generator"
        #expect(try Jobs.invertPrototypes(other, models: loader).inverted == 1)
        // The key says why it did not match.
        let k1 = LatentKey(generator: "a", settings: settings()), k2 = LatentKey(generator: "b", settings: settings(steps: 5))
        #expect(k1.mismatch(k2) == "another generator, 5 steps instead of 3")
        #expect(k1.mismatch(LatentKey(json: k1.json)) == nil)
    }
}

@Suite("Demo")
struct DemoTests {
    /// The built `voicestyle` executable beside the test bundle.
    static var executable: URL? {
        let dir = Bundle.main.bundleURL.deletingLastPathComponent()
        return [dir, Fixtures.repoRoot.appendingPathComponent(".build/release"), Fixtures.repoRoot.appendingPathComponent(".build/debug")]
            .map { $0.appendingPathComponent("voicestyle") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test("voicestyle demo runs outside the repository with no shared folder: face.png, sheet.png, latent.npy, report.json")
    func demoRuns() throws {
        guard let exe = DemoTests.executable else { Issue.record("voicestyle executable not found"); return }
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("vs-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = exe
        p.arguments = ["demo", "--out", "result", "--steps", "5", "--invert-steps", "5"]
        p.currentDirectoryURL = cwd
        var env = ProcessInfo.processInfo.environment
        env["VOICESTYLE_SHARED"] = "/nonexistent"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\(text)")
        for f in ["face.png", "sheet.png", "latent.npy", "report.json", "demo.json"] {
            #expect(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("result/\(f)").path), "\(f)")
        }
        #expect(text.contains("untrained"))
        let report = try decodeReport(InferReport.self, from: Data(contentsOf: cwd.appendingPathComponent("result/report.json")))
        #expect([Demo.notice, Demo.trainedNotice].contains(report.notice) && report.prototypes.count == 4 && report.steps.count == 5)
        let sheet = try PNGCodec.decode(Data(contentsOf: cwd.appendingPathComponent("result/sheet.png")))
        #expect(sheet.width == 6 * ((report.notice == Demo.notice ? 128 : 256) + 2) + 2)  // 32-px stand-in tiles 128 px, the DCGAN's faces 256
    }
}
