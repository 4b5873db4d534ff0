// Follows voicestyle generation/pipeline.py L120–200 (embed the voice, search the index, project each prototype,
// average, optimise, save): the stages of an inference as objects, each built through `ModelLoader`, so `infer`,
// `infer --voices`, the benches and the web page's previews compose the same parts.
import Foundation
import VoiceStyleEngine
import VoiceStyleHub
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// Both CMPC encoders of one checkpoint, with the reference a report keeps.
public struct CMPCEncoders {
    public let voice: VoiceEncoder
    public let face: FaceEncoder
    public let ref: ModelRef
    /// The network both wrap (the refiner's critic).
    public var model: CMPCModel { voice.model }
}

/// Voice embedding → the k nearest prototypes of an index (pipeline.py's FAISS search).
public struct Retriever {
    public let index: PrototypeIndex
    public var k: Int
    public var mode: SearchRequest.Mode

    public init(index: PrototypeIndex, k: Int, mode: SearchRequest.Mode = .instances) {
        self.index = index
        self.k = k
        self.mode = mode
    }

    /// The hits for a query vector (unit-normalised by the index).
    public func retrieve(_ query: [Float]) throws -> [IndexHit] {
        mode == .instances ? try index.searchInstances(query, k: k) : try index.searchClusters(query, k: k)
    }

    /// The hits for a CMPC embedding [1, D].
    public func retrieve(_ embedding: Tensor<Float>) throws -> [IndexHit] { try retrieve(embedding.scalars) }
}

/// Latent → picture: the generator run with the given noise maps (zero maps when nil), without gradients; the
/// DCGAN's 64-px face shown as the loss networks see it, upsampled to 256 px.
public struct Renderer {
    public let generator: any FaceGenerator
    public init(_ generator: any FaceGenerator) { self.generator = generator }

    /// Always in fp32, whatever precision the surrounding loop runs in.
    public func image(_ latent: Tensor<Float>, noises: [Tensor<Float>]? = nil) throws -> RGBImage {
        let g = generator
        let maps = noises ?? g.noiseShapes(batch: 1).map { Tensor<Float>(zeros: $0) }
        return ImageTensors.images(try ComputePrecision.fp32.run {
            try withoutGradients {
                let image = try g.render(latent.detached(), noises: maps.map { $0.detached() })
                return g.family == .dcgan ? g.lossImage(image) : image
            }
        })[0]
    }
}

extension ModelLoader {
    /// The CMPC voice and face encoders of a checkpoint (`explicit`, else the default file).
    public func encoders(_ explicit: String?) throws -> CMPCEncoders {
        let (model, ref) = try cmpc(explicit)
        return CMPCEncoders(voice: VoiceEncoder(model), face: FaceEncoder(model, checkpointSHA256: ref.sha256), ref: ref)
    }

    /// The encoders an index was built with: `explicit`, else the checkpoint the index remembers, else the default;
    /// one whose SHA-256 differs from the index's is refused.
    public func encoders(for index: PrototypeIndex, explicit: String?) throws -> CMPCEncoders {
        let remembered = try index.store.setting("cmpc_path")
        let path = explicit ?? remembered.flatMap { FileManager.default.fileExists(atPath: $0) || isRegistered($0) ? $0 : nil }
        let found = try encoders(path)
        if try index.store.setting("source") == nil, let built = try index.store.setting("cmpc_sha256"), built != found.ref.sha256 {
            throw IndexError.mixedCheckpoints(index: index.directory.path, existing: built, given: found.ref.sha256)
        }
        return found
    }

    /// The latent source of `index`: cached latents, else inversion with the generator of `paths`; LPIPS and
    /// IR-SE50 are loaded the first time something needs inverting; inversions run their products in `precision`
    /// (part of the cache key). With `resolveNow`, their files must exist before any work starts.
    public func latentSource(index: PrototypeIndex, settings: PrototypeInversionSettings, precision: ComputePrecision = .fp32,
                             paths: ModelPaths, resolveNow: Bool) throws -> LatentSource {
        let (g, ref) = try generator(paths.generator)
        let identity = settings.projector.identityWeight != 0
        let perceptual = settings.projector.usesLPIPS
        if resolveNow {
            if perceptual { _ = try resolve(.vgg16, paths.vgg) }
            if identity { _ = try resolve(.irse50, paths.identity) }
        }
        return LatentSource(index: index, generator: g, generatorSHA256: ref.sha256, settings: settings, precision: precision) {
            Projector(generator: g, lpips: perceptual ? try self.lpips(vgg: paths.vgg, lin: paths.lpips).0 : nil,
                      identity: identity ? try self.identity(paths.identity).0 : nil)
        }
    }

    /// The refiner: the generator and CMPC critic given, IR-SE50 of `identity` when `config` weighs it (nil
    /// otherwise, and in upstream-compatible mode), with its reference.
    public func refiner(generator g: any FaceGenerator, critic: CMPCModel, identity path: String?,
                        config: RefinementConfig) throws -> (Refiner, ModelRef?) {
        guard !config.upstreamCompat, config.identityWeight != 0 else { return (Refiner(generator: g, cmpc: critic, identity: nil), nil) }
        let (id, ref) = try identity(path)
        return (Refiner(generator: g, cmpc: critic, identity: id), ref)
    }
}
