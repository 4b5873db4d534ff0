// No upstream counterpart: every request type of the library as a `JobRequest` (its name, what it does, how it
// runs), and the result types of the jobs whose outcome is more than a report.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleHub
import VoiceStyleImaging
import VoiceStyleIndex

/// A report that is the whole result of its job.
public protocol PlainJobResult: JobResult, Codable, Sendable where Report == Self {}
extension PlainJobResult { public var report: Self { self } }

extension BuildIndexReport: PlainJobResult {}
extension InvertPrototypesReport: PlainJobResult {}
extension MergeLatentsReport: PlainJobResult {}
extension InferManyReport: PlainJobResult {}
extension AlignReport: PlainJobResult {}
extension InferenceResult: JobResult {}
extension InvertResult: JobResult {}

/// `search`: the nearest prototypes.
public struct SearchReport: PlainJobResult, Equatable {
    public var index: String
    public var hits: [IndexHit]
}

/// `features` and `embed`: one tensor (features (1, 64, T); embeddings (N, D)).
public struct TensorResult: JobResult {
    public struct Report: Codable, Sendable, Equatable { public var shape: [Int] }
    public var tensor: Tensor<Float>
    public var report: Report { Report(shape: tensor.shape) }
}

/// `generate`: the images and the generator's output tensor.
public struct GenerateResult: JobResult {
    public struct Report: Codable, Sendable, Equatable { public var images: Int; public var size: Int }
    public var images: [RGBImage]
    public var tensor: Tensor<Float>
    public var report: Report { Report(images: images.count, size: images.first?.width ?? 0) }
}

/// `demo`: the inference it ran and the demo's own report.
public struct DemoResult: JobResult {
    public var result: InferenceResult
    public var report: DemoReport
}

extension DemoRequest: JobRequest {
    public static let job = "demo", summary = "the whole pipeline on the bundled faces and voices"
    public func run(in c: JobContext) throws -> DemoResult { let r = try Jobs.demo(self, progress: c.progress); return DemoResult(result: r.result, report: r.report) }
}
extension InferRequest: JobRequest {
    public static let job = "infer", summary = "a face from a voice"
    public func run(in c: JobContext) throws -> InferenceResult { try Jobs.infer(self, models: c.models, progress: c.progress) }
}
extension InferManyRequest: JobRequest {
    public static let job = "infer --voices", summary = "faces from a folder or list of voices (resumable, shardable)"
    public func run(in c: JobContext) throws -> InferManyReport { try Jobs.inferMany(self, models: c.models, progress: c.progress) }
}
extension BuildIndexRequest: JobRequest {
    public static let job = "index build", summary = "a prototype index from a face collection"
    public func run(in c: JobContext) throws -> BuildIndexReport { try Jobs.buildIndex(self, models: c.models, progress: c.progress) }
}
extension InvertPrototypesRequest: JobRequest {
    public static let job = "index invert", summary = "cache the prototypes' latents"
    public func run(in c: JobContext) throws -> InvertPrototypesReport { try Jobs.invertPrototypes(self, models: c.models, progress: c.progress) }
}
extension MergeLatentsRequest: JobRequest {
    public static let job = "index merge-latents", summary = "copy latent shards into their index"
    public func run(in c: JobContext) throws -> MergeLatentsReport { try Jobs.mergeLatents(self) }
}
extension SearchRequest: JobRequest {
    public static let job = "search", summary = "the prototypes nearest a voice, a face or an embedding"
    public func run(in c: JobContext) throws -> SearchReport { SearchReport(index: index, hits: try Jobs.search(self, models: c.models)) }
}
extension InvertRequest: JobRequest {
    public static let job = "invert", summary = "latents of photos (GAN inversion)"
    public func run(in c: JobContext) throws -> InvertResult { try Jobs.invert(self, models: c.models, progress: c.progress) }
}
extension GenerateRequest: JobRequest {
    public static let job = "generate", summary = "images from latents or seeds"
    public func run(in c: JobContext) throws -> GenerateResult { let r = try Jobs.generate(self, progress: c.progress); return GenerateResult(images: r.images, tensor: r.tensor) }
}
extension FeaturesRequest: JobRequest {
    public static let job = "features", summary = "voice features of an audio file"
    public func run(in c: JobContext) throws -> TensorResult { TensorResult(tensor: try Jobs.features(self)) }
}
extension EmbedRequest: JobRequest {
    public static let job = "embed", summary = "CMPC or identity embeddings"
    public func run(in c: JobContext) throws -> TensorResult { TensorResult(tensor: try Jobs.embed(self, models: c.models)) }
}
extension AlignRequest: JobRequest {
    public static let job = "align", summary = "FFHQ-aligned crops of photos"
    public func run(in c: JobContext) throws -> AlignReport { try Jobs.align(self, progress: c.progress) }
}
