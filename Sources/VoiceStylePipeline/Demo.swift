// The main job out of the box (no upstream counterpart): index build → infer on material shipped with the
// package (DemoData/NOTICE.md), the trained 64-px face DCGAN where set-up fetched it (else an untrained StyleGAN2
// stand-in) and tiny untrained encoders made by code, so every stage runs on a fresh clone.
import Foundation
import VoiceStyleHub
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// `demo`: every stage of the pipeline on the bundled faces and voice.
public struct DemoRequest: Codable, Sendable, Equatable {
    /// The generator: nil = the trained face DCGAN (dcgan-faces-64.pth) where it is found, else the untrained
    /// StyleGAN2 stand-in ("demo:generator"); or any generator file.
    public var generator: String?
    /// Output folder (face.png, sheet.png, latent.npy, report.json, demo.json, index/).
    public var out = "voicestyle-demo"
    /// A voice clip of your own (default: the bundled VoxCeleb clip).
    public var voice: String?
    public var k = 4
    public var steps = 20
    public var invertSteps = 30
    public var seed: UInt64 = 0
    /// FFHQ-align the bundled photos first (dlib, real weights: the one stage the demo runs for real).
    public var align = true
    public init() {}
}

/// demo.json: what each stage did.
public struct DemoReport: Codable, Sendable, Equatable {
    public var notice: String
    public var index: BuildIndexReport
    public var infer: InferReport
    public var outputs: [String]
}

/// The demo's material and models.
public enum Demo {
    /// The line on the demo's sheet and reports with the untrained stand-in generator.
    public static let notice = "DEMO: untrained random models - the face is not meaningful (README: real models)"
    /// … and with the trained face DCGAN.
    public static let trainedNotice = "DEMO: trained face generator (64-px DCGAN, DigiFace-1M: non-commercial research only); "
        + "untrained voice and face encoders - a face, not yet this voice's"

    /// The name under which `register` makes the untrained StyleGAN2 stand-in available.
    public static let standInGenerator = "demo:generator"

    /// The generator the demo uses: `explicit`, else the trained face DCGAN where the hub finds it, else the
    /// untrained StyleGAN2 stand-in.
    public static func generator(_ explicit: String?, locator: ModelLocator = ModelLocator()) -> String {
        explicit ?? (locator.find(ModelFile.dcganFaces.name)?.path ?? standInGenerator)
    }

    /// The notice of a demo run with `generator`.
    public static func notice(generator: String) -> String { generator == standInGenerator ? notice : trainedNotice }

    /// The bundled material (faces/IDENTITY/*.jpg, voices/*.wav, NOTICE.md).
    public static var data: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "DemoData", withExtension: nil) else {
                throw JobError("the demo material (DemoData) is missing from this build; rebuild with swift build -c release")
            }
            return url
        }
    }

    /// The bundled voice clips.
    public static var voices: [URL] {
        get throws {
            let dir = try data.appendingPathComponent("voices")
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0) }
        }
    }

    /// The demo's settings on an infer request (the demo job and the web page's demo): the demo models with
    /// `generator`, the notice, 2,000 z samples for the mean latent and σ_W, 30 projector steps per prototype; with a
    /// trained generator the projector also weighs pixel MSE (the demo's LPIPS and IR-SE50 are untrained).
    public static func configure(_ r: inout InferRequest, generator: String) {
        r.models = models
        r.models.generator = generator
        r.notice = notice(generator: generator)
        projector(&r.config.inversion.projector, generator: generator)
        if generator != standInGenerator { r.config.refinement.identityWeight = 0 }
        r.config.meanLatentSamples = 2000
        r.config.inversion.projector.steps = 30
    }

    /// The demo's projector settings with `generator`: 2,000 z samples; with a trained generator pixel MSE (weight 1)
    /// and no identity term, since the demo's LPIPS and IR-SE50 are untrained.
    public static func projector(_ c: inout ProjectorConfig, generator: String) {
        c.meanLatentSamples = 2000
        if generator != standInGenerator { (c.mse, c.identityWeight) = (1, 0) }
    }

    /// Names under which `register` makes the demo models available to a `ModelLoader`.
    public static let models = ModelPaths(generator: standInGenerator, cmpc: "demo:cmpc", identity: "demo:irse50", vgg: "demo:lpips")

    /// A loader in which the demo models are registered when any of `names` is one of theirs ("demo:…"), so that
    /// command lines and cluster scripts can run every job on them (e.g. `--cmpc demo:cmpc`).
    public static func loader(for names: [String?], locator: ModelLocator = ModelLocator()) throws -> ModelLoader {
        let loader = ModelLoader(locator: locator)
        if names.contains(where: { $0?.hasPrefix("demo:") == true }) { try register(in: loader) }
        return loader
    }

    /// Registers tiny seeded random models (32-px StyleGAN2, CMPC ResNets, IR-SE50 and LPIPS-VGG of a
    /// fraction of the real widths) under `Demo.models`' names.
    public static func register(in loader: ModelLoader, seed: UInt64 = 1) throws {
        var g = GeneratorConfig()
        g.size = 32
        g.styleDim = 64
        g.mappingLayers = 4
        g.channels = [4: 64, 8: 64, 16: 32, 32: 32]
        let tag = "demo-untrained-seed-\(seed)"
        loader.register(try StyleGAN2Generator.random(g, seed: seed), as: standInGenerator, sha256: "\(tag)-generator-32px")
        loader.register(try CMPCModel.random(blocks: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: 8, seed: seed &+ 1),
                        as: "demo:cmpc", sha256: "\(tag)-cmpc")
        loader.register(IdentityLoss(network: try IRSE50.random(depths: [16, 32, 64, 128], stem: 16, embedding: 64, seed: seed &+ 2)),
                        as: "demo:irse50", sha256: "\(tag)-irse50")
        loader.register(try LPIPS.random(widths: [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64], seed: seed &+ 3),
                        as: "demo:lpips", sha256: "\(tag)-lpips")
    }
}

extension Jobs {
    /// Builds an index of the bundled faces in `out/index`, then infers a face for the voice into `out`.
    public static func demo(_ request: DemoRequest, progress: JobProgress = { _ in }) throws -> (result: InferenceResult, report: DemoReport) {
        let out = try Check.outputFolder("out", request.out)
        let voice = try request.voice ?? Demo.voices.first { $0.lastPathComponent.hasPrefix("id10845") }?.path ?? Demo.voices[0].path
        let loader = ModelLoader()
        try Demo.register(in: loader)
        let generator = Demo.generator(request.generator, locator: loader.locator)
        var build = BuildIndexRequest(index: out.appendingPathComponent("index").path, faces: try Demo.data.appendingPathComponent("faces").path)
        build.cmpc = Demo.models.cmpc
        if request.align { build.align = AlignOptions() }
        let index = try buildIndex(build, models: loader, progress: progress)
        var infer = InferRequest(voice: voice, index: build.index)
        Demo.configure(&infer, generator: generator)
        infer.config.k = request.k
        infer.config.seed = request.seed
        infer.config.refinement.steps = request.steps
        infer.config.inversion.projector.steps = request.invertSteps
        let result = try Jobs.infer(infer, models: loader, progress: progress)
        try result.write(to: out)
        let report = DemoReport(notice: Demo.notice(generator: generator), index: index, infer: result.report,
                                outputs: ["face.png", "sheet.png", "latent.npy", "report.json", "demo.json", "index/"])
        try reportJSON(DemoRequest.envelope(report)).writeOutput(to: out.appendingPathComponent("demo.json"))
        return (result, report)
    }
}
