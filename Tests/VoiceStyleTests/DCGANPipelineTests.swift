// The face DCGAN through the pipeline (issue: real faces out of the box): inversion and refinement converge with
// its prior, caches and latent files keep the families apart, and the demo's face is a face dlib finds.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// The trained DCGAN as set-up fetches it into the clone's checkpoints/, or nil (with a note).
private func trainedDCGAN() -> URL? {
    let url = Fixtures.repoRoot.appendingPathComponent("checkpoints/\(ModelFile.dcganFaces.name)")
    if FileManager.default.fileExists(atPath: url.path) { return url }
    print("note: \(url.path) is absent (scripts/setup fetches it); the trained-DCGAN checks are skipped")
    return nil
}

/// A face photo of the demo material, FFHQ-aligned when dlib's landmark model is there.
private func demoFace() throws -> RGBImage {
    let faces = Fixtures.repoRoot.appendingPathComponent("Sources/VoiceStylePipeline/DemoData/faces")
    let person = try FileManager.default.contentsOfDirectory(atPath: faces.path).sorted()[0]
    let photo = try FileManager.default.contentsOfDirectory(atPath: faces.appendingPathComponent(person).path).sorted()[0]
    let image = try ImageFile.read(faces.appendingPathComponent("\(person)/\(photo)"))
    guard FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) else { return image }
    return try PhotoAligner.align(image, options: AlignOptions()).faces.first?.image ?? image
}

@Suite("Face DCGAN in the pipeline")
struct DCGANPipelineTests {
    let generator: any FaceGenerator
    init() throws {
        generator = try trainedDCGAN().map { try DCGANGenerator(contentsOf: $0) } ?? DCGANGenerator.random(seed: 3)
    }

    @Test("the generator protocol: shapes, statistics, the 256-px loss image, the prior term")
    func protocolShapes() throws {
        let g = generator
        #expect(g.family == .dcgan && g.outputSize == 64 && g.latentDim == 100 && g.latentLayers == 1 && g.noiseShapes(batch: 2).isEmpty)
        var rng = SeededGenerator(seed: 1)
        let (mean, std) = g.latentStatistics(count: 10, using: &rng)
        #expect(mean.shape == [100] && mean.buffer.allSatisfy { $0 == 0 } && std == 10)
        let image = try withoutGradients { try g.render(Tensor.randomNormal([2, 100], using: &rng), noises: []) }
        #expect(image.shape == [2, 3, 64, 64])
        let big = g.lossImage(image)
        #expect(big.shape == [2, 3, 256, 256])
        // Bilinear upsampling keeps the mean of a constant image.
        let flat = g.lossImage(Tensor(shape: [1, 3, 64, 64], repeating: 0.5))
        #expect(abs(flat.slice(axis: 2, 64, 192).slice(axis: 3, 64, 192).mean().item - 0.5) < 1e-5)
        #expect(g.prior(Tensor(shape: [1, 100], repeating: 1)).item == 0)
        #expect(abs(g.aggregate(Tensor(shape: [1, 100], repeating: 0.1)).square().sum().item - 100) < 1e-3)
    }

    @Test("inversion of a face photo converges (loss falls, no NaN) with LPIPS, MSE and the prior on z")
    func inversionConverges() throws {
        let g = generator
        let lpips = try LPIPS.random(widths: [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64], seed: 4)
        let projector = Projector(generator: g, lpips: lpips, identity: nil)
        var config = ProjectorConfig()
        (config.steps, config.mse, config.identityWeight) = (40, 1, 0)
        let target = Inference.target(try demoFace(), generator: g).reshaped([1, 3, 256, 256])
        var rng = SeededGenerator(seed: 0)
        let (mean, std) = projector.latentStatistics(count: 1, using: &rng)
        var randomness = SeededProjectorRandomness(seed: 1)
        let result = try projector.project(target, config: config, latentMean: mean, latentStd: std, randomness: &randomness)
        #expect(result.latent.shape == [1, 100] && result.noises.isEmpty)
        let first = result.steps.first!.mse, last = result.steps.last!.mse
        #expect(last < first * 0.8, "mse \(first) → \(last)")
        #expect(result.steps.allSatisfy { $0.total.isFinite })
    }

    @Test("refinement towards a voice converges with the prior term and stays finite")
    func refinementConverges() throws {
        let g = generator
        let cmpc = try CMPCModel.random(blocks: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: 8, seed: 5)
        var rng = SeededGenerator(seed: 2)
        let voice = Tensor<Float>.randomNormal([1, 64], using: &rng)
        var config = RefinementConfig()
        (config.steps, config.identityWeight) = (30, 0)
        var randomness = SeededProjectorRandomness(seed: 3)
        let start = g.aggregate(Tensor.randomNormal([1, 100], using: &rng))
        let result = try Refiner(generator: g, cmpc: cmpc, identity: nil)
            .refine(initial: start, voice: voice, identityTarget: nil, latentStd: 10, config: config, randomness: &randomness)
        #expect(result.steps.last!.cmpc < result.steps.first!.cmpc, "cmpc \(result.steps.first!.cmpc) → \(result.steps.last!.cmpc)")
        #expect(result.latent.buffer.allSatisfy { $0.isFinite })
    }

    @Test("cached latents are keyed by family; a StyleGAN2 latent file is refused by the DCGAN in one sentence")
    func familiesApart() throws {
        let settings = PrototypeInversionSettings()
        let style = LatentKey(generator: "abc", settings: settings), dcgan = LatentKey(generator: "abc", family: .dcgan, settings: settings)
        #expect(dcgan.mismatch(style)?.contains("a stylegan2 latent for a dcgan generator") == true)
        #expect(LatentKey(json: style.json) == style)
        // A key stored before families existed reads as StyleGAN2's.
        let old = style.json.replacingOccurrences(of: "\"family\":\"stylegan2\",", with: "")
        #expect(!old.contains("family") && LatentKey(json: old) == style)
        guard let file = trainedDCGAN() else { return }
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("vs-dcgan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let w = cwd.appendingPathComponent("w.npy")
        try NumPyFile.npyData(StoredTensor(Tensor<Float>(zeros: [1, 512]))).write(to: w)
        let r = try runTool(["generate", "--checkpoint", file.path, "--z", w.path, "--out", cwd.appendingPathComponent("x.png").path], in: cwd)
        #expect(r.status == 1 && r.stderr.contains("a StyleGAN2 W latent: it cannot drive the DCGAN"), "\(r.stderr)")
        let ok = try runTool(["generate", "--checkpoint", file.path, "--seed", "3", "--out", cwd.appendingPathComponent("y.png").path], in: cwd)
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("voicestyle demo with the trained DCGAN writes a 256-px face.png in which dlib finds a face")
    func demoShowsFaces() throws {
        guard trainedDCGAN() != nil, FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) else { return }
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("vs-dcgan-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let r = try runTool(["demo", "--out", "result", "--quiet"], in: cwd, timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(Demo.trainedNotice), "\(r.stdout)")
        let detector = try FaceDetector.shared()
        let face = try ImageFile.read(cwd.appendingPathComponent("result/face.png"))
        let found = try detector.detect(face)
        #expect(face.width == 256 && !found.isEmpty, "no face found in face.png")
        let report = try decodeReport(InferReport.self, from: Data(contentsOf: cwd.appendingPathComponent("result/report.json")))
        #expect(report.checkpoints["generator"]?.path.hasSuffix(ModelFile.dcganFaces.name) == true)
    }

    @Test("every generated panel of the demo's sheet (each prototype's inversion, the averaged and the refined face) is a face dlib finds")
    func demoPanelsAreFaces() throws {
        guard trainedDCGAN() != nil, FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) else { return }
        var request = DemoRequest()
        request.out = FileManager.default.temporaryDirectory.appendingPathComponent("vs-dcgan-panels-\(UUID().uuidString)").path
        request.steps = 5
        let result = try Jobs.demo(request).result
        let panels = result.inversions.compactMap { $0 } + [result.averaged, result.face]
        let detector = try FaceDetector.shared()
        let found = try panels.map { try !detector.detect($0).isEmpty }
        print("demo panels with a face (dlib): \(found.filter { $0 }.count) of \(panels.count)")
        #expect(panels.count == request.k + 2 && found.allSatisfy { $0 }, "\(found)")
    }
}
