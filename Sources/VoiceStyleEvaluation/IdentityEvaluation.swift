// The evaluation jobs (no upstream counterpart: voicestyle ships none): an identity model's own quality on a
// face collection (`eval faces`) and the GAN-inversion table (`eval inversion`), on VoiceStyleEvaluation's metrics.
import Foundation
import VoiceStyleHub
import VoiceStyleEngine
import VoiceStylePipeline
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleInversion
import VoiceStyleModels

/// The face embedder that scores identities. The protocol wants one other than the identity-loss model.
public enum IdentityModelKind: String, Codable, Sendable, CaseIterable {
    /// dlib's ResNet face recogniser (128-d, LFW 99.38 %): 5-point landmarks, a 150-px chip, the network.
    case dlib
    /// pSp's IR-SE50 (512-d), the identity loss of inversion and refinement.
    case irse50
}

/// An identity model ready to embed photos.
public final class IdentityEmbedder {
    public let kind: IdentityModelKind
    /// The model file(s) and their sha256 where known.
    public let model: String
    private let embedFace: (RGBImage) throws -> (vector: [Float], detected: Bool)

    /// dlib: faces are found by dlib's detector (the largest); where none is found the whole image is taken as the
    /// face (`detected` false). IR-SE50: the image is resized and centre-cropped to 256 px as the projector does.
    public init(_ kind: IdentityModelKind, irse50: String? = nil, models: ModelLoader) throws {
        self.kind = kind
        switch kind {
        case .dlib:
            let recognizer = try models.faceRecognizer()
            let detector = try FaceDetector.shared()
            model = recognizer.model
            embedFace = { image in
                let faces = try detector.faces(image)
                guard let largest = PhotoAligner.chosen(faces, .largest).first else {
                    return (try recognizer.descriptor(image, rect: [0, 0, image.width - 1, image.height - 1]), false)
                }
                return (try recognizer.descriptor(image, rect: faces[largest].rect), true)
            }
        case .irse50:
            let (identity, ref) = try models.identity(irse50)
            model = "\(ref.path) (sha256 \(ref.sha256.prefix(12))…)"
            embedFace = { image in
                let x = FacePreprocessing.projector(image, size: 256).reshaped([1, 3, 256, 256])
                return (withoutGradients { identity.features(x) }.scalars, true)
            }
        }
    }

    public func embed(_ image: RGBImage) throws -> (vector: [Float], detected: Bool) { try embedFace(image) }
}

/// `eval faces`: how well an identity model tells the people of a face collection apart.
public struct EvalFacesRequest: Codable, Sendable, Equatable {
    /// A folder per identity (images inside, at any depth).
    public var faces: String
    public var identityModel = IdentityModelKind.dlib
    /// IR-SE50 weights (default checkpoints/model_ir_se50.pth).
    public var irse50: String?
    /// Where report.json and results.md go (nil: nowhere).
    public var out: String?

    public init(faces: String) { self.faces = faces }

    public func validate() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: faces, isDirectory: &isDir), isDir.boolValue else {
            throw JobError("\(faces) is not a folder (give a folder with one sub-folder of photos per identity)")
        }
    }
}

/// report.json of `eval faces`.
public struct EvalFacesReport: Codable, Sendable, Equatable {
    public var request: EvalFacesRequest
    public var model: String
    public var identities: Int
    public var faces: Int
    /// Photos where the model's detector found no face (embedded whole) and unreadable ones (left out).
    public var noFaceDetected: Int
    public var skipped: [SkippedItem]
    /// Leave-one-out nearest neighbour (cosine) has the same identity.
    public var rank1: Double
    /// Verification over every pair of faces (same identity or not, scored by cosine): ROC AUC and EER.
    public var auc: Double
    public var eer: Double
    public var pairs: Int
    public var seconds: Double
    public var facesPerSecond: Double
}

extension Jobs {
    /// Writes `roc.svg` and `roc.png` of `roc` into `folder` (at most ~1,000 points of the curve, its ends kept).
    static func writeROC(_ roc: Metrics.ROC, name: String, title: String, to folder: URL) throws {
        let step = max(1, roc.fpr.count / 1000)
        let keep = Array(stride(from: 0, to: roc.fpr.count, by: step)) + ((roc.fpr.count - 1) % step == 0 ? [] : [roc.fpr.count - 1])
        try Plot.roc(series: [(name, keep.map { roc.fpr[$0] }, keep.map { roc.tpr[$0] }, roc.auc)], title: title).write(to: folder, name: "roc")
    }

    /// Embeds every photo of the collection and reports rank-1 identification and verification AUC/EER.
    public static func evalFaces(_ request: EvalFacesRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> EvalFacesReport {
        try request.validate()
        let out = try request.out.map { try Check.outputFolder("out", $0) }
        let embedder = try IdentityEmbedder(request.identityModel, irse50: request.irse50, models: models)
        let files = try LabelledFiles.read(request.faces, field: "faces").files
        guard !files.isEmpty else { throw JobError("\(request.faces) holds no .jpg, .jpeg or .png photos one folder level down") }
        let start = Date()
        var vectors: [[Float]] = [], labels: [String] = [], skipped: [SkippedItem] = [], noFace = 0
        for (n, f) in files.enumerated() {
            progress(JobEvent(stage: "embed faces", done: n, total: files.count, detail: f.path))
            do {
                let (v, detected) = try embedder.embed(try ImageFile.read(URL(fileURLWithPath: f.path)))
                vectors.append(v)
                labels.append(f.identity)
                if !detected { noFace += 1 }
            } catch {
                skipped.append(SkippedItem(path: f.path, reason: plainMessage(error)))
            }
        }
        progress(JobEvent(stage: "embed faces", done: files.count, total: files.count))
        let embedSeconds = Date().timeIntervalSince(start)
        guard Set(labels).count >= 2 else { throw JobError("\(request.faces) needs photos of at least two identities (one folder each)") }
        // Cosine similarities of every pair.
        let unit = vectors.map { v -> [Float] in
            let norm = max(v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), 1e-12)
            return v.map { Float(Double($0) / norm) }
        }
        var scores: [Double] = [], same: [Bool] = [], correct = 0
        for i in unit.indices {
            var best = -Double.infinity, bestLabel = ""
            for j in unit.indices where j != i {
                var dot = 0.0
                for d in unit[i].indices { dot += Double(unit[i][d]) * Double(unit[j][d]) }
                if dot > best { best = dot; bestLabel = labels[j] }
                if j > i { scores.append(dot); same.append(labels[i] == labels[j]) }
            }
            if bestLabel == labels[i] { correct += 1 }
        }
        let roc = Metrics.roc(scores: scores, labels: same)
        let report = EvalFacesReport(
            request: request, model: "\(embedder.kind.rawValue): \(embedder.model)", identities: Set(labels).count, faces: vectors.count,
            noFaceDetected: noFace, skipped: skipped, rank1: Double(correct) / Double(vectors.count), auc: roc?.auc ?? .nan,
            eer: roc?.eer ?? .nan, pairs: scores.count, seconds: Date().timeIntervalSince(start),
            facesPerSecond: Double(files.count) / max(embedSeconds, 1e-9))
        if let out {
            try reportJSON(EvalFacesRequest.envelope(report)).writeOutput(to: out.appendingPathComponent("report.json"))
            let md = """
                | identity model | identities | faces | rank-1 | verification AUC | EER |
                |---|---|---|---|---|---|
                | \(report.model) | \(report.identities) | \(report.faces) | \(String(format: "%.2f %%", 100 * report.rank1)) | \(String(format: "%.4f", report.auc)) | \(String(format: "%.2f %%", 100 * report.eer)) |

                """
            try Data(md.utf8).writeOutput(to: out.appendingPathComponent("results.md"))
            if let roc { try writeROC(roc, name: embedder.kind.rawValue, title: "verification on \(URL(fileURLWithPath: request.faces).lastPathComponent)", to: out) }
        }
        return report
    }
}

/// `eval inversion`: photos against their reconstructions (an `invert` output folder), the table of the
/// GAN-inversion literature.
public struct EvalInversionRequest: Codable, Sendable, Equatable {
    /// A folder written by `invert` (report.json, NAME.png per photo).
    public var folder: String
    public var identityModel = IdentityModelKind.dlib
    public var irse50: String?
    /// LPIPS-VGG16 weights (default checkpoints/vgg16-397923af.pth + vgg.pth); LPIPS is left out when they are absent.
    public var vgg: String?
    public var lpips: String?
    /// Where report.json and results.md go (nil: nowhere).
    public var out: String?

    public init(folder: String) { self.folder = folder }
}

/// One photo and its reconstruction.
public struct InversionQuality: Codable, Sendable, Equatable {
    public var file: String
    public var reconstruction: String
    public var identityCosine: Double
    public var lpips: Double?
    /// PSNR in dB.
    public var psnr: Double
    /// On images in [0, 1].
    public var mse: Double
}

/// report.json of `eval inversion`.
public struct EvalInversionReport: Codable, Sendable, Equatable {
    public var request: EvalInversionRequest
    public var model: String
    public var images: [InversionQuality]
    public var skipped: [SkippedItem]
    public var mean: InversionQuality?
}

extension Jobs {
    /// Scores each reconstruction of an `invert` folder against its photo (aligned again when `invert --align`
    /// aligned it, projector-preprocessed to the reconstruction's size).
    public static func evalInversion(_ request: EvalInversionRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> EvalInversionReport {
        let folder = URL(fileURLWithPath: request.folder)
        let reportURL = folder.appendingPathComponent("report.json")
        guard let data = FileManager.default.contents(atPath: reportURL.path) else {
            throw JobError("\(request.folder) holds no report.json (give a folder written by voicestyle invert)")
        }
        /// What this job reads of invert's report.json.
        struct InvertFolder: Decodable {
            struct Image: Decodable {
                var file: String
                var name: String
                var alignment: FaceAlignmentNote?
            }
            var images: [Image]
        }
        let invert: InvertFolder
        do { invert = try decodeReport(InvertFolder.self, from: data) } catch {
            throw JobError("\(reportURL.path) is not a report of voicestyle invert (\(plainMessage(error)))")
        }
        let out = try request.out.map { try Check.outputFolder("out", $0) }
        let embedder = try IdentityEmbedder(request.identityModel, irse50: request.irse50, models: models)
        var lpips: LPIPS? = nil
        if request.vgg != nil || models.locator.find(ModelFile.vgg16.name) != nil {
            lpips = try models.lpips(vgg: request.vgg, lin: request.lpips).0
        }
        var rows: [InversionQuality] = [], skipped: [SkippedItem] = []
        for (n, image) in invert.images.enumerated() {
            progress(JobEvent(stage: "eval inversion", done: n, total: invert.images.count, detail: image.name))
            let reconURL = folder.appendingPathComponent("\(image.name).png")
            do {
                let recon = try ImageFile.read(reconURL)
                var photo = try ImageFile.read(URL(fileURLWithPath: image.file))
                if let note = image.alignment { photo = try note.realign(photo) }
                let size = recon.width
                let target = FacePreprocessing.projector(photo, size: size), output = recon.tensor()
                let mse = Double(withoutGradients { ((output - target) / 2).square().mean() }.item)
                let cosine = Metrics.cosine(try embedder.embed(ImageTensors.images(target.reshaped([1, 3, size, size]))[0]).vector,
                                            try embedder.embed(recon).vector)
                let perceptual = lpips.map { net in
                    Double(withoutGradients { net(output.reshaped([1, 3, size, size]), target.reshaped([1, 3, size, size])) }.item)
                }
                rows.append(InversionQuality(file: image.file, reconstruction: reconURL.path, identityCosine: cosine, lpips: perceptual,
                                             psnr: 10 * log10(1 / max(mse, 1e-12)), mse: mse))
            } catch {
                skipped.append(SkippedItem(path: image.file, reason: plainMessage(error)))
            }
        }
        progress(JobEvent(stage: "eval inversion", done: invert.images.count, total: invert.images.count))
        func avg(_ f: (InversionQuality) -> Double?) -> Double? {
            let v = rows.compactMap(f)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        let mean = rows.isEmpty ? nil : InversionQuality(file: "mean", reconstruction: "\(rows.count) images", identityCosine: avg(\.identityCosine)!,
                                                         lpips: avg(\.lpips), psnr: avg(\.psnr)!, mse: avg(\.mse)!)
        var model = "\(embedder.kind.rawValue): \(embedder.model)"
        if embedder.kind == .irse50 { model += " (WARNING: the identity-loss model of the inversion; prefer {identityModel} dlib)" }
        let report = EvalInversionReport(request: request, model: model, images: rows, skipped: skipped, mean: mean)
        if let out {
            try reportJSON(EvalInversionRequest.envelope(report)).writeOutput(to: out.appendingPathComponent("report.json"))
            var md = "| image | identity cosine | LPIPS | PSNR (dB) | MSE |\n|---|---|---|---|---|\n"
            for r in rows + (mean.map { [$0] } ?? []) {
                md += "| \(URL(fileURLWithPath: r.file).lastPathComponent) | \(String(format: "%.4f", r.identityCosine)) | \(r.lpips.map { String(format: "%.4f", $0) } ?? "–") | \(String(format: "%.2f", r.psnr)) | \(String(format: "%.5f", r.mse)) |\n"
            }
            try Data(md.utf8).writeOutput(to: out.appendingPathComponent("results.md"))
        }
        return report
    }
}

extension EvalFacesReport: PlainJobResult {}
extension EvalInversionReport: PlainJobResult {}
