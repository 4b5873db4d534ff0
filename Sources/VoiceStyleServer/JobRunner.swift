// No upstream counterpart: the web jobs as runs of the library's jobs (InferRequest, InvertRequest, SearchRequest),
// with the outputs the page shows written into the job's folder.
import Foundation
import VoiceStyleHub
import VoiceStyleAudio
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStylePipeline

/// Limits of the web server on what clients send and what it keeps.
public struct ServerLimits: Sendable, Equatable {
    /// Largest request body (an upload and its form).
    public var maxUploadBytes = 20 << 20
    /// Longest voice clip, in seconds.
    public var maxVoiceSeconds = 60.0
    /// Largest photo side, in pixels (checked from the header, before decoding).
    public var maxImageSide = 4096
    /// Jobs waiting at most (more are refused with 503).
    public var maxQueued = 16
    /// Most refinement or projector steps a client may ask for.
    public var maxSteps = 2000
    /// Most prototypes or hits a client may ask for.
    public var maxK = 64
    /// Uploads decoded at a time (each in bounded memory, `Waveform.read`) …
    public var maxDecodes = 2
    /// … and uploads waiting for a turn; more are refused with 503.
    public var maxDecodesWaiting = 8
    /// Finished jobs are deleted after this many seconds …
    public var keepSeconds: Double = 6 * 3600
    /// … or, oldest first, when more than this many are kept …
    public var keepJobs = 200
    /// … or when their folders hold more than this many bytes.
    public var keepBytes = 1 << 30
    public init() {}
}

/// Runs one web job on the job thread; holds the models (loaded once, kept between jobs).
final class JobRunner {
    let loader: ModelLoader
    let models: ModelPaths
    let demo: Bool

    init(loader: ModelLoader, models: ModelPaths, demo: Bool) {
        self.loader = loader
        self.models = models
        self.demo = demo
    }

    /// Runs `job`'s work; writes its outputs into `job.output`; returns what the API reports.
    func run(_ job: ServerJob) throws -> JobSummary {
        let out = job.output
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var summary: JobSummary
        let context = JobContext(models: loader, progress: job.progress)
        switch job.work {
        case let request as InferRequest:
            let steps = request.config.refinement.steps, every = max(1, steps / 12)
            let result = try Jobs.infer(request, models: loader, progress: job.progress) { step, render in
                guard step % every == 0 || step == steps, let face = try? render(), let png = try? PNGCodec.encode(face) else { return }
                if (try? png.writeOutput(to: out.appendingPathComponent("preview.png"))) != nil { job.previewed(step: step) }
            }
            try result.write(to: out)
            var gallery: [GalleryItem] = []
            for (p, (image, inverted)) in zip(result.report.prototypes, zip(result.prototypeImages, result.inversions)) {
                gallery.append(GalleryItem(rank: p.rank, identity: p.identity, cosine: p.cosine, weight: p.weight,
                                           image: try image.map { try Self.writeThumbnail($0, to: out, name: "prototype-\(p.rank).png") },
                                           inversion: try inverted.map { try Self.writeThumbnail($0, to: out, name: "inverted-\(p.rank).png") }))
            }
            summary = JobSummary(outputs: [], notice: result.report.notice, gallery: gallery, curve: result.report.steps.map(\.cmpc),
                                 skipped: result.report.skipped.map { "\($0.path): \($0.reason)" }, timings: result.report.timings)
        case let request as InvertRequest:
            let result = try request.run(in: context)
            try result.write(to: out)
            summary = JobSummary(outputs: [], reconstruction: result.report.images.first?.final,
                                 skipped: result.report.skipped.map(\.reason))
        case let request as SearchRequest:
            let hits = try request.run(in: context).hits
            // The hits' faces as the index embedded them (aligned again where it aligns); no generator is loaded.
            let index = try PrototypeIndex(directory: URL(fileURLWithPath: request.index))
            var gallery: [GalleryItem] = []
            for hit in hits {
                let image = index.image(hit.path)
                gallery.append(GalleryItem(rank: hit.rank, identity: hit.identity, cosine: hit.cosine,
                                           image: try image.map { try Self.writeThumbnail($0, to: out, name: "hit-\(hit.rank).png") }))
            }
            try reportJSON(hits).writeOutput(to: out.appendingPathComponent("hits.json"))
            summary = JobSummary(outputs: [], gallery: gallery)
        default:
            throw JobError("the web server does not run \(type(of: job.work).job) jobs")
        }
        if demo { summary.notice = Demo.notice(generator: models.generator ?? Demo.standInGenerator) }
        // The outputs served are exactly the files written here (preview.png included).
        summary.outputs = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { !$0.hasPrefix(".") }.sorted()
        return summary
    }

    /// Writes `image` as a PNG of at most 256 px a side; returns its name.
    static func writeThumbnail(_ image: RGBImage, to folder: URL, name: String) throws -> String {
        let side = max(image.width, image.height)
        let small = side <= 256 ? image
            : image.resized(width: max(1, image.width * 256 / side), height: max(1, image.height * 256 / side), filter: .bilinear)
        try PNGCodec.encode(small).writeOutput(to: folder.appendingPathComponent(name))
        return name
    }

    /// The error as one sentence for the client, with the server's folders left out.
    func clientMessage(_ error: Error, job: ServerJob) -> String {
        webMessage(error).replacingOccurrences(of: job.folder.path + "/", with: "")
    }
}

/// How request fields are named on the page, where the form field is not the field's own name.
let formFieldOfField: [String: String] = [
    "voice": "voice (or example)", "images": "photo", "face": "face", "refinement.steps": "steps", "projector.steps": "steps",
    "precision": "precision",
]

/// One plain sentence for an error, request fields named as the page's form fields (never command-line flags), long
/// values cut (`shortened`).
public func webMessage(_ error: Error) -> String {
    if let e = error as? JobError { return shortened(e.rendered { formFieldOfField[$0] ?? "the \($0) setting" }) }
    return shortened(plainMessage(error))
}
