// Follows voicestyle generation/pipeline.py (main flow L150–200): voice → CMPC voice embedding → prototypes →
// their W latents → aggregate → refine → face; with an index instead of the frozen memory, cached latents,
// a working latent regulariser and an identity term.
import Foundation

/// Settings of `voicestyle infer`.
public struct InferenceConfig: Sendable {
    public var k = 8
    public var searchMode: SearchModeSetting = .instances
    public var aggregate: Aggregation = .mean
    /// Softmax temperature of `similarity` aggregation: weights ∝ exp(cos/τ).
    public var temperature: Float = 0.1
    public var refinement = RefinementConfig()
    public var projector = ProjectorConfig()
    public var seed: UInt64 = 0
    /// z samples for σ_W (upstream: 10,000).
    public var meanLatentSamples = 10_000
    public init() {}

    public enum SearchModeSetting: String, Sendable { case instances, clusters }
    public enum Aggregation: String, Sendable { case mean, similarity }
}

/// One prototype used for a face.
public struct UsedPrototype: Sendable {
    public var hit: IndexHit
    public var weight: Float
    public var image: RGBImage?
    public var latentWasCached: Bool
}

/// The outcome of an inference.
public struct InferenceResult {
    public var face: RGBImage
    public var averaged: RGBImage
    public var latent: Tensor<Float>
    public var prototypes: [UsedPrototype]
    public var steps: [RefinementStep]
    public var timings: [(stage: String, seconds: Double)]
    public var skipped: [(path: String, reason: String)]

    /// Captions of the sheet's tiles, in order: "#rank identity" / "cos c  w weight" for each prototype with
    /// an image, then the averaged-latent face and the refined face with their CMPC distances to the voice.
    public var sheetCaptions: [[String]] {
        var captions = prototypes.filter { $0.image != nil }.map {
            ["#\($0.hit.rank) \($0.hit.identity)", String(format: "cos %.3f  w %.2f", $0.hit.cosine, $0.weight)]
        }
        let first = steps.first.map { String(format: "cmpc dist %.3f", $0.cmpc) } ?? ""
        let last = steps.last.map { String(format: "-> %.3f", $0.cmpc) } ?? ""
        captions.append(["averaged latent", first])
        captions.append(["refined face", steps.isEmpty ? "" : "\(steps.count) steps \(last)"])
        return captions
    }

    /// The contact sheet: the prototypes with images, the averaged-latent face and the refined face, in one row
    /// of up to six or rows of five, each captioned (`sheetCaptions`). Tiles are the face's size, at least 128 px so that captions fit.
    public var sheet: RGBImage {
        let side = max(face.width, 128)
        func sized(_ i: RGBImage) -> RGBImage { i.width == side && i.height == side ? i : i.resized(width: side, height: side, filter: .bilinear) }
        let tiles = (prototypes.compactMap(\.image) + [averaged, face]).map(sized)
        return ImageTensors.captionedGrid(tiles, captions: sheetCaptions, columns: tiles.count <= 6 ? tiles.count : 5)
    }
}

public enum InferenceError: Error, CustomStringConvertible {
    case noUsablePrototypes(String)
    public var description: String {
        switch self { case let .noUsablePrototypes(i): "none of the retrieved prototypes of \(i) has a readable image or cached latent" }
    }
}

/// The models `infer` needs; loss networks for inverting uncached prototypes are loaded on demand.
public final class InferenceModels {
    public let generator: StyleGAN2Generator
    public let cmpc: CMPCModel
    public let identity: IdentityLoss?
    public let lpips: () throws -> LPIPS

    public init(generator: StyleGAN2Generator, cmpc: CMPCModel, identity: IdentityLoss?, lpips: @escaping () throws -> LPIPS) {
        self.generator = generator
        self.cmpc = cmpc
        self.identity = identity
        self.lpips = lpips
    }
}

public enum InferencePipeline {
    /// Runs the whole job for voice features [1, 64, T].
    public static func run(features: Tensor<Float>, index: PrototypeIndex, models: InferenceModels, config: InferenceConfig,
                           progress: (_ stage: String, _ done: Int, _ total: Int, _ detail: String) -> Void = { _, _, _, _ in }) throws -> InferenceResult {
        var timings: [(String, Double)] = []
        var clock = Date()
        func lap(_ name: String) { timings.append((name, Date().timeIntervalSince(clock))); clock = Date() }
        let g = models.generator
        let size = min(g.config.size, 256)
        // 1. Voice embedding and retrieval.
        let voice = withoutGradients { models.cmpc.voice(features.reshaped([1] + features.shape)) }
        let hits = config.searchMode == .instances ? try index.searchInstances(voice.scalars, k: config.k)
                                                   : try index.searchClusters(voice.scalars, k: config.k)
        lap("voice embedding and retrieval")
        // 2. Latent statistics (mean W for inversions, σ for the latent noise).
        var rng = SeededGenerator(seed: config.seed)
        let stats = withoutGradients { () -> (Tensor<Float>, Float) in
            let w = g.map(Tensor.randomNormal([config.meanLatentSamples, g.config.styleDim], using: &rng))
            let mean = w.mean(axes: [0])
            return (mean, ((w - mean).square().sum() / Float(config.meanLatentSamples)).sqrt().item)
        }
        lap("latent statistics")
        // 3. Prototype images and latents (cached, or inverted now and cached).
        let root = URL(fileURLWithPath: try index.store.setting("faces_root") ?? ".")
        var used: [UsedPrototype] = [], latents: [Tensor<Float>] = [], skipped: [(String, String)] = []
        var projector: Projector? = nil
        for (n, hit) in hits.enumerated() {
            progress("prototypes", n, hits.count, hit.path)
            var record = index.records.first { $0.path == hit.path }
            if record == nil { record = try index.store.all().first { $0.path == hit.path } }
            let image = loadPrototypeImage(hit.path, root: root)
            if let cached = record?.latentValues, cached.count == g.config.styleDim {
                latents.append(Tensor(shape: [1, g.config.styleDim], scalars: cached))
                used.append(UsedPrototype(hit: hit, weight: 0, image: image, latentWasCached: true))
                continue
            }
            guard let image else { skipped.append((hit.path, "no readable image")); continue }
            if projector == nil { projector = Projector(generator: g, lpips: try models.lpips(), identity: models.identity) }
            var randomness = SeededProjectorRandomness(seed: config.seed &+ 7 &+ UInt64(n))
            let target = FacePreprocessing.projector(image, size: size).reshaped([1, 3, size, size])
            let result = try projector!.project(target, config: config.projector, latentMean: stats.0, latentStd: stats.1, randomness: &randomness)
            latents.append(result.latent)
            if let last = result.steps.last {
                let metrics = String(decoding: try JSONSerialization.data(withJSONObject: ["lpips": last.perceptual, "identity": last.identity,
                                                                                           "mse": last.mse, "steps": config.projector.steps],
                                                                          options: [.sortedKeys]), as: UTF8.self)
                try? index.store.setLatent(path: hit.path, latent: result.latent.scalars, noises: result.noises.flatMap { $0.scalars }, metrics: metrics)
            }
            used.append(UsedPrototype(hit: hit, weight: 0, image: image, latentWasCached: false))
        }
        progress("prototypes", hits.count, hits.count, "")
        guard !latents.isEmpty else { throw InferenceError.noUsablePrototypes(index.directory.path) }
        lap("prototype latents")
        // 4. Aggregation.
        var weights = [Float](repeating: 1 / Float(latents.count), count: latents.count)
        if config.aggregate == .similarity {
            let e = used.map { Foundation.exp(Double($0.hit.cosine / config.temperature)) }
            let total = e.reduce(0, +)
            weights = e.map { Float($0 / total) }
        }
        for i in used.indices { used[i].weight = weights[i] }
        let w0 = zip(latents, weights).map { $0 * $1 }.dropFirst().reduce(latents[0] * weights[0], +)
        // Identity target: mean ArcFace embedding of the prototype images.
        var identityTarget: Tensor<Float>? = nil
        if let identity = models.identity, !config.refinement.upstreamCompat, config.refinement.identityWeight != 0 {
            let feats = used.compactMap(\.image).map { img in
                withoutGradients { identity.features(FacePreprocessing.projector(img, size: 256).reshaped([1, 3, 256, 256])) }
            }
            if !feats.isEmpty { identityTarget = withoutGradients { Tensor.concat(feats, axis: 0).mean(axes: [0], keepDims: true).l2Normalized(axis: 1) } }
        }
        let averagedImage = withoutGradients { g.synthesize(try! g.latents([w0], inputIsLatent: true), noise: try! g.noise(.zero, batch: 1)) }
        lap("aggregation")
        // 5. Refinement.
        var randomness = SeededProjectorRandomness(seed: config.seed &+ 1)
        let refiner = Refiner(generator: g, cmpc: models.cmpc, identity: models.identity)
        let result = try refiner.refine(initial: w0, voice: voice, identityTarget: identityTarget, latentStd: stats.1, config: config.refinement,
                                        randomness: &randomness, onStep: { s in
            progress("refinement", s.step + 1, config.refinement.steps, String(format: "cmpc %.4f", s.cmpc))
        })
        let face = withoutGradients { g.synthesize(try! g.latents([result.latent], inputIsLatent: true), noise: result.noises) }
        lap("refinement")
        return InferenceResult(face: ImageTensors.images(face)[0], averaged: ImageTensors.images(averagedImage)[0], latent: result.latent,
                               prototypes: used, steps: result.steps, timings: timings, skipped: skipped)
    }

    /// A prototype's image: the file itself, or for an imported memory's video folder its first JPEG/PNG.
    static func loadPrototypeImage(_ path: String, root: URL) -> RGBImage? {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return nil }
        if !isDir.boolValue { return try? ImageFile.read(url) }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
            .filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }
        for f in files { if let img = try? ImageFile.read(url.appendingPathComponent(f)) { return img } }
        return nil
    }
}
