// Follows voicestyle generation/pipeline.py (main flow L150–200): voice → CMPC voice embedding → prototypes →
// their W latents → aggregate → refine → face; with an index instead of the frozen memory, cached latents,
// a working latent regulariser and an identity term. Each stage is a function the benchmarks time too.
import Foundation
import VoiceStyleHub
import VoiceStyleAudio
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// Settings of an inference (everything but the files).
public struct InferenceConfig: Codable, Sendable, Equatable {
    /// Prototypes retrieved.
    public var k = 8
    public var searchMode = SearchRequest.Mode.instances
    public var aggregate = Aggregation.mean
    /// Softmax temperature of `similarity` aggregation: weights ∝ exp(cos/τ).
    public var temperature: Float = 0.1
    public var refinement = RefinementConfig()
    /// How prototypes without a matching cached latent are inverted (the same rule as `index invert`).
    public var inversion = PrototypeInversionSettings()
    /// Seed of the refinement (its noise maps and latent noise) and of the σ_W samples.
    public var seed: UInt64 = 0
    /// z samples for σ_W (upstream: 10,000).
    public var meanLatentSamples = 10_000
    /// The precision of the large products of the refinement and of prototype inversions (`auto`: bf16 where
    /// the CPU has AVX512-BF16 or AMX, else fp32); renders of the faces stay fp32.
    public var precision = Precision.auto
    public init() {}

    public enum Aggregation: String, Codable, Sendable, CaseIterable { case mean, similarity }

    public func validate() throws {
        _ = try Check.precision("precision", precision)
        try Check.range("k", k, 1...1000)
        guard temperature.isFinite, temperature > 0 else { throw JobError(field: "temperature", "must be a finite number > 0 (got \(temperature))") }
        try Check.range("steps", refinement.steps, 0...100_000)
        try Check.range("invertSteps", inversion.projector.steps, 1...100_000)
        try Check.nonNegative("idWeight", refinement.identityWeight)
        try Check.nonNegative("anchorWeight", refinement.anchorWeight)
        try Check.range("meanSamples", meanLatentSamples, 1...1_000_000)
    }
}

/// `infer`: a voice clip in, a face out (with the evidence).
public struct InferRequest: Codable, Sendable, Equatable {
    /// The voice clip (any format libsndfile reads).
    public var voice: String
    /// The prototype index folder.
    public var index: String
    public var config = InferenceConfig()
    public var models = ModelPaths()
    /// A line shown on the sheet and in the report (the demo says its models are untrained).
    public var notice: String?

    public init(voice: String, index: String) { self.voice = voice; self.index = index }
}

/// One prototype used for a face.
public struct UsedPrototype: Codable, Sendable, Equatable {
    public var rank: Int
    public var path: String
    public var identity: String
    public var cosine: Float
    public var weight: Float
    public var latentSource: LatentOrigin
}

/// Seconds spent in one stage.
public struct StageTiming: Codable, Sendable, Equatable {
    public var stage: String
    public var seconds: Double
}

/// report.json of `infer`.
public struct InferReport: Codable, Sendable, Equatable {
    public var notice: String?
    public var request: InferRequest
    public var featuresFrames: Int
    public var checkpoints: [String: ModelRef]
    public var prototypes: [UsedPrototype]
    public var skipped: [SkippedItem]
    public var sheet: [String]
    public var steps: [RefinementStep]
    public var timings: [StageTiming]
}

/// The outcome of an inference: images, latent and report.
public struct InferenceResult {
    public var face: RGBImage
    public var averaged: RGBImage
    public var latent: Tensor<Float>
    /// The prototypes' images in rank order (nil where unreadable).
    public var prototypeImages: [RGBImage?]
    /// The generator's picture of each prototype's latent (its inversion), nil where the prototype has no image.
    public var inversions: [RGBImage?]
    public var report: InferReport

    public init(face: RGBImage, averaged: RGBImage, latent: Tensor<Float>, prototypeImages: [RGBImage?], inversions: [RGBImage?] = [],
                report: InferReport) {
        (self.face, self.averaged, self.latent, self.prototypeImages, self.report) = (face, averaged, latent, prototypeImages, report)
        self.inversions = inversions.isEmpty ? prototypeImages.map { _ in nil } : inversions
    }

    /// The sheet's tiles with their captions, in order: each prototype with an image ("#rank identity" / "cos c
    /// w weight"), the averaged-latent face and the refined face with their CMPC distances to the voice, then, under
    /// the photos, the inversions ("#rank inverted" / where the latent came from).
    var tiles: [(image: RGBImage, caption: [String])] {
        let shown = report.prototypes.indices.compactMap { i in i < prototypeImages.count ? prototypeImages[i].map { (i, $0) } : nil }
        var tiles = shown.map { i, image -> (RGBImage, [String]) in
            let p = report.prototypes[i]
            return (image, ["#\(p.rank) \(p.identity)", String(format: "cos %.3f  w %.2f", p.cosine, p.weight)])
        }
        let first = report.steps.first.map { String(format: "cmpc dist %.3f", $0.cmpc) } ?? ""
        let last = report.steps.last.map { String(format: "-> %.3f", $0.cmpc) } ?? ""
        tiles.append((averaged, ["averaged latent", first]))
        tiles.append((face, ["refined face", report.steps.isEmpty ? "" : "\(report.steps.count) steps \(last)"]))
        for (i, _) in shown {
            guard i < inversions.count, let inverted = inversions[i] else { continue }
            let p = report.prototypes[i]
            tiles.append((inverted, ["#\(p.rank) inverted", p.latentSource == .cache ? "latent: cached" : "latent: inverted now"]))
        }
        return tiles
    }

    /// Captions of the sheet's tiles, in the order of `tiles`.
    public var sheetCaptions: [[String]] { tiles.map(\.caption) }

    /// The contact sheet: the prototypes' photos, the averaged-latent face and the refined face in one row, and
    /// each prototype's inversion under its photo, each captioned (`sheetCaptions`), under the report's notice if
    /// any. Tiles are the face's size, at least 128 px so that captions fit; more than six prototypes wrap in rows
    /// of eight.
    public var sheet: RGBImage {
        let side = max(face.width, 128)
        func sized(_ i: RGBImage) -> RGBImage { i.width == side && i.height == side ? i : i.resized(width: side, height: side, filter: .bilinear) }
        let all = tiles
        let photos = prototypeImages.compactMap { $0 }.count
        return ImageTensors.captionedGrid(all.map { sized($0.image) }, captions: all.map(\.caption), columns: min(photos + 2, 8), title: report.notice)
    }

    /// Writes face.png, sheet.png, latent.npy and report.json into `folder` (each through a temporary name).
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try PNGCodec.encode(face).writeOutput(to: folder.appendingPathComponent("face.png"))
        try PNGCodec.encode(sheet).writeOutput(to: folder.appendingPathComponent("sheet.png"))
        try NumPyFile.npyData(StoredTensor(latent)).writeOutput(to: folder.appendingPathComponent("latent.npy"))
        try reportJSON(InferRequest.envelope(report)).writeOutput(to: folder.appendingPathComponent("report.json"))
    }
}

public enum InferenceError: Error, CustomStringConvertible {
    case noUsablePrototypes(String)
    public var description: String {
        switch self { case let .noUsablePrototypes(i): "none of the retrieved prototypes of \(i) has a readable image or cached latent" }
    }
}

/// The arithmetic between the stages (`Stages.swift`): aggregation weights, the average, the identity target,
/// the projector's view of a photo.
public enum Inference {
    /// Aggregation weights for prototype cosines: uniform (upstream's mean) or softmax(cos/τ), computed stably
    /// (the largest cos/τ subtracted first, in double precision), so any τ > 0 gives finite weights summing to 1.
    public static func weights(cosines: [Float], config: InferenceConfig) -> [Float] {
        guard config.aggregate == .similarity else { return [Float](repeating: 1 / Float(cosines.count), count: cosines.count) }
        let logits = cosines.map { Double($0) / Double(config.temperature) }
        let top = logits.max() ?? 0
        let e = logits.map { Foundation.exp($0 - top) }
        let total = e.reduce(0, +)
        return e.map { Float($0 / total) }
    }

    /// Σ weight·latent, in the latents' own shape.
    public static func aggregate(_ latents: [Tensor<Float>], weights: [Float]) -> Tensor<Float> {
        zip(latents, weights).map { $0 * $1 }.dropFirst().reduce(latents[0] * weights[0], +)
    }

    /// Identity target: the unit mean ArcFace embedding of the prototype images [1, E], embedded as one batch.
    public static func identityTarget(_ images: [RGBImage], identity: IdentityLoss) -> Tensor<Float>? {
        guard !images.isEmpty else { return nil }
        let batch = Tensor.concat(images.map { FacePreprocessing.projector($0, size: 256).reshaped([1, 3, 256, 256]) }, axis: 0)
        return withoutGradients { identity.features(batch).mean(axes: [0], keepDims: true).l2Normalized(axis: 1) }
    }

    /// A face photo as the projector's target for `generator` [3, S, S] (S = its `lossSize`): voicestyle's projector
    /// transform; for the DCGAN first the central 188 × 188 of 256 (pSp's ArcFace crop [35:223, 32:220], the
    /// framing of the DigiFace-1M faces it was trained on) of an FFHQ-aligned photo.
    public static func target(_ image: RGBImage, generator: any FaceGenerator) -> Tensor<Float> {
        guard generator.family == .dcgan else { return FacePreprocessing.projector(image, size: generator.lossSize) }
        let (w, h) = (Double(image.width), Double(image.height))
        let crop = image.cropped(top: Int((35 / 256 * h).rounded()), left: Int((32 / 256 * w).rounded()),
                                 height: max(1, Int((188 / 256 * h).rounded())), width: max(1, Int((188 / 256 * w).rounded())))
        return FacePreprocessing.projector(crop, size: generator.lossSize)
    }

}

extension Jobs {
    /// The whole `infer` job: validates the request, loads what it needs, runs the stages, returns images and report.
    /// `preview`, if given, sees each refinement step (1-based) with a function that renders the face so far.
    public static func infer(_ request: InferRequest, models: ModelLoader, progress: JobProgress = { _ in },
                             preview: ((_ step: Int, _ render: () throws -> RGBImage) -> Void)? = nil) throws -> InferenceResult {
        let config = request.config
        try config.validate()
        try Check.file("voice", request.voice)
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: request.index))
        guard !index.records.isEmpty else { throw IndexError.empty(index.directory.path) }
        var checkpoints: [String: ModelRef] = [:]
        let encoders = try models.encoders(for: index, explicit: request.models.cmpc)
        checkpoints["cmpc"] = encoders.ref
        let precision = try Check.precision("precision", config.precision)
        let source = try models.latentSource(index: index, settings: config.inversion, precision: precision, paths: request.models, resolveNow: false)
        let generator = source.generator
        checkpoints["generator"] = try models.generator(request.models.generator).1  // loaded by latentSource: a cache hit
        let (refiner, identityRef) = try models.refiner(generator: generator, critic: encoders.model, identity: request.models.identity,
                                                        config: config.refinement)
        checkpoints["irse50"] = identityRef
        let renderer = Renderer(generator)
        var timings: [StageTiming] = []
        var clock = Date()
        func lap(_ name: String) { timings.append(StageTiming(stage: name, seconds: Date().timeIntervalSince(clock))); clock = Date() }
        // 1. Voice features, embedding and retrieval.
        let features = try encoders.voice.features(request.voice)
        let voice = encoders.voice.embed(features: features)
        let hits = try Retriever(index: index, k: config.k, mode: config.searchMode).retrieve(voice)
        lap("voice embedding and retrieval")
        // 2. σ_W for the refinement noise.
        var rng = SeededGenerator(seed: config.seed)
        let stats = latentStatistics(generator: generator, count: config.meanLatentSamples, using: &rng)
        lap("latent statistics")
        // 3. Prototype latents: cached, or inverted now and cached.
        var used: [UsedPrototype] = [], latents: [Tensor<Float>] = [], images: [RGBImage?] = [], skipped: [SkippedItem] = []
        for (n, hit) in hits.enumerated() {
            progress(JobEvent(stage: "prototypes", done: n, total: hits.count, detail: hit.path))
            let (found, skip) = try source.latent(for: hit.path) { s in
                progress(JobEvent(stage: "projector", done: s.step + 1, total: config.inversion.projector.steps, detail: String(format: "loss %.4f", s.total)))
            }
            if let skip { skipped.append(skip) }
            guard let found else { continue }
            latents.append(found.latent)
            images.append(found.image)
            used.append(UsedPrototype(rank: hit.rank, path: hit.path, identity: hit.identity, cosine: hit.cosine, weight: 0, latentSource: found.source))
        }
        progress(JobEvent(stage: "prototypes", done: hits.count, total: hits.count))
        guard !latents.isEmpty else { throw InferenceError.noUsablePrototypes(index.directory.path) }
        let inversions = try zip(latents, images).map { latent, image in try image.map { _ in try renderer.image(latent) } }
        lap("prototype latents")
        // 4. Aggregation and identity target.
        let weights = Inference.weights(cosines: used.map(\.cosine), config: config)
        guard weights.allSatisfy(\.isFinite), latents.allSatisfy({ $0.scalars.allSatisfy(\.isFinite) }) else {
            throw JobError("the aggregation weights or prototype latents of \(index.directory.path) are not finite numbers (cosines \(used.map(\.cosine)))")
        }
        for i in used.indices { used[i].weight = weights[i] }
        let w0 = generator.aggregate(Inference.aggregate(latents, weights: weights))
        let target = refiner.identity.flatMap { Inference.identityTarget(images.compactMap { $0 }, identity: $0) }
        let averaged = try renderer.image(w0)
        lap("aggregation")
        // 5. Refinement (seeded by `config.seed + 1`).
        var randomness = SeededProjectorRandomness(seed: config.seed &+ 1)
        let refined = try precision.run {  // the refinement's products in the request's precision; pictures in fp32
            try refiner.refine(initial: w0, voice: voice, identityTarget: target, latentStd: stats.std, config: config.refinement,
                               randomness: &randomness) { s in
                progress(JobEvent(stage: "refinement", done: s.step + 1, total: config.refinement.steps, detail: String(format: "cmpc %.4f", s.cmpc)))
            } afterUpdate: { step, latent, noises in
                preview?(step + 1) { try renderer.image(latent, noises: noises) }
            }
        }
        let face = try renderer.image(refined.latent, noises: refined.noises)
        lap("refinement")
        let report = InferReport(notice: request.notice, request: request, featuresFrames: features.shape[2], checkpoints: checkpoints, prototypes: used,
                                 skipped: skipped, sheet: [], steps: refined.steps, timings: timings)
        var result = InferenceResult(face: face, averaged: averaged, latent: refined.latent, prototypeImages: images, inversions: inversions, report: report)
        result.report.sheet = result.sheetCaptions.map { $0.joined(separator: " | ") }
        return result
    }
}
