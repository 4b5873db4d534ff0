// Follows voicestyle generation/pipeline.py L160–175 (each retrieved prototype image → `project2latent`):
// the one routine that finds a prototype's latent, from the index's cache or by inverting it now, and caches
// it keyed to how it was made. `index invert`, `infer` and later front-ends all call it.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// How prototypes are inverted. Defaults equal voicestyle's `project2latent` as the pipeline calls it (300 W
/// steps, identity weight 1).
public struct PrototypeInversionSettings: Codable, Sendable, Equatable {
    public var projector = ProjectorConfig()
    /// Base seed: prototype P uses seed `seed + fnv1a64(P.path)` for its noise, and the W statistics use `seed`.
    public var seed: UInt64 = 0
    public init() {}

    /// The seed of one prototype's inversion (the same whichever command inverts it).
    public func seed(for path: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in path.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return seed &+ h
    }
}

/// Everything that decides a cached latent; a cached latent is reused only when its key equals the request's.
public struct LatentKey: Codable, Sendable, Equatable {
    /// SHA-256 of the generator file.
    public var generator: String
    /// The generator's family (keys stored before families existed are StyleGAN2's).
    public var family: GeneratorFamily = .stylegan2
    public var settings: PrototypeInversionSettings
    /// The precision of the products the projector ran in (keys stored before precisions existed are fp32's).
    public var precision: ComputePrecision = .fp32

    enum CodingKeys: String, CodingKey { case generator, family, settings, precision }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        generator = try c.decode(String.self, forKey: .generator)
        family = try c.decodeIfPresent(GeneratorFamily.self, forKey: .family) ?? .stylegan2
        settings = try c.decode(PrototypeInversionSettings.self, forKey: .settings)
        precision = try c.decodeIfPresent(ComputePrecision.self, forKey: .precision) ?? .fp32
    }

    /// Canonical JSON (sorted keys), as stored in the index.
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init(generator: String, family: GeneratorFamily = .stylegan2, settings: PrototypeInversionSettings, precision: ComputePrecision = .fp32) {
        self.generator = generator
        self.family = family
        self.settings = settings
        self.precision = precision
    }

    /// Decodes a stored key; nil when absent or from an older format.
    public init?(json: String?) {
        guard let json, let k = try? JSONDecoder().decode(LatentKey.self, from: Data(json.utf8)) else { return nil }
        self = k
    }

    /// Why a stored key does not match this one, in words ("another generator", "other steps", …); nil if it matches.
    public func mismatch(_ stored: LatentKey?) -> String? {
        guard let stored else { return "no key (cached before latents were keyed)" }
        if stored == self { return nil }
        var why: [String] = []
        if stored.family != family { why.append("a \(stored.family.rawValue) latent for a \(family.rawValue) generator") }
        if stored.generator != generator { why.append("another generator") }
        if stored.precision != precision { why.append("inverted in \(stored.precision.rawValue) instead of \(precision.rawValue)") }
        let a = stored.settings, b = settings
        if a.projector.wPlus != b.projector.wPlus { why.append(a.projector.wPlus ? "W+ instead of W" : "W instead of W+") }
        if a.projector.steps != b.projector.steps { why.append("\(a.projector.steps) steps instead of \(b.projector.steps)") }
        if a.seed != b.seed { why.append("seed \(a.seed) instead of \(b.seed)") }
        if why.isEmpty { why.append("other loss weights or schedule") }
        return why.joined(separator: ", ")
    }
}

/// Where a prototype's latent came from.
public enum LatentOrigin: String, Codable, Sendable { case cache, inverted }

/// Final losses of one prototype's inversion.
public struct InversionMetrics: Codable, Sendable, Equatable {
    public var lpips: Double
    public var identity: Double
    public var mse: Double
    public var steps: Int
}

/// One prototype's latent ([1, D] for W, [1, n_latent, D] for W+), its image when readable, and where it came from.
public struct PrototypeLatent {
    public var path: String
    public var latent: Tensor<Float>
    public var image: RGBImage?
    public var source: LatentOrigin
    public var metrics: InversionMetrics?
}

/// A prototype that could not be used, and why.
public struct SkippedItem: Codable, Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Finds prototype latents: cached ones whose key matches, the rest inverted now (one at a time, each with its
/// own seed) and stored in the index with their key.
public final class LatentSource {
    public let index: PrototypeIndex
    public let generator: any FaceGenerator
    public let key: LatentKey
    private let makeProjector: () throws -> Projector
    private var projector: Projector?
    private var statistics: (mean: Tensor<Float>, std: Float)?

    /// `projector` is called once, the first time a prototype needs inverting (loading LPIPS and IR-SE50 only then).
    /// Inversions run their products in `precision` (part of the key).
    public init(index: PrototypeIndex, generator: any FaceGenerator, generatorSHA256: String, settings: PrototypeInversionSettings,
                precision: ComputePrecision = .fp32, projector: @escaping () throws -> Projector) {
        self.index = index
        self.generator = generator
        self.key = LatentKey(generator: generatorSHA256, family: generator.family, settings: settings, precision: precision)
        self.makeProjector = projector
        self.store = index.store
    }

    /// Where latents are looked up first and stored: the index's database, or the file of a latent slice
    /// (`index invert --shard`, `LatentShard`); then a latent the index itself caches is copied there.
    public var store: PrototypeStore

    /// A prototype's image as the index embedded it (`PrototypeIndex.image`).
    public func image(_ path: String, record: PrototypeRecord? = nil) -> RGBImage? { index.image(path, record: record) }

    /// Whether `path` has a cached latent made the way this request asks.
    public func isCached(_ record: PrototypeRecord) -> Bool {
        record.latent != nil && key.mismatch(LatentKey(json: record.latentKey)) == nil
    }

    /// The latent of the prototype at `path`: cached, or inverted now and cached. nil with a reason when its
    /// image is unreadable and nothing usable is cached. `onStep` sees the projector's steps of an inversion.
    public func latent(for path: String, onStep: (ProjectorStep) -> Void = { _ in }) throws -> (PrototypeLatent?, SkippedItem?) {
        let record = try index.store.record(path: path)
        let own = store === index.store ? record : try store.record(path: path)
        let img = image(path, record: record)
        let settings = key.settings
        for cached in [own, record].compactMap({ $0 }) where isCached(cached) {
            let shape = settings.projector.wPlus && generator.latentLayers > 1 ? [1, generator.latentLayers, generator.latentDim] : [1, generator.latentDim]
            guard let values = cached.latentValues, values.count == shape.reduce(1, *) else { continue }
            if let own, own.latent != cached.latent {
                try store.setLatent(path: path, latent: values, noises: cached.noiseValues ?? [], metrics: cached.inversion ?? "", key: key.json)
            }
            let metrics = cached.inversion.flatMap { try? JSONDecoder().decode(InversionMetrics.self, from: Data($0.utf8)) }
            return (PrototypeLatent(path: path, latent: Tensor(shape: shape, scalars: values), image: img, source: .cache, metrics: metrics), nil)
        }
        guard let img else { return (nil, SkippedItem(path: path, reason: "no readable image and no matching cached latent")) }
        let projector = try self.projector ?? makeProjector()
        self.projector = projector
        let (mean, std) = statistics ?? {
            var rng = SeededGenerator(seed: settings.seed)
            return latentStatistics(generator: generator, count: settings.projector.meanLatentSamples, using: &rng)
        }()
        statistics = (mean, std)
        let size = generator.lossSize
        let target = Inference.target(img, generator: generator).reshaped([1, 3, size, size])
        var randomness = SeededProjectorRandomness(seed: settings.seed(for: path))
        let result = try key.precision.run {
            try projector.project(target, config: settings.projector, latentMean: mean, latentStd: std, randomness: &randomness, onStep: onStep)
        }
        let last = result.steps.last
        let metrics = InversionMetrics(lpips: last?.perceptual ?? 0, identity: last?.identity ?? 0, mse: last?.mse ?? 0, steps: result.steps.count)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // the same bytes from every process (shards merge bit for bit)
        let metricsJSON = String(decoding: try encoder.encode(metrics), as: UTF8.self)
        if own != nil {
            try store.setLatent(path: path, latent: result.latent.scalars, noises: result.noises.flatMap(\.scalars), metrics: metricsJSON, key: key.json)
        }
        return (PrototypeLatent(path: path, latent: result.latent, image: img, source: .inverted, metrics: metrics), nil)
    }
}
