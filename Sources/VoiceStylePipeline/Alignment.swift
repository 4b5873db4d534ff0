// Follows pSp scripts/align_all_parallel.py `run` as a job: photos or folders in, one FFHQ-aligned PNG per face
// and alignment.json out; a photo without a face is reported and skipped, never fatal for the batch.
import Foundation
import VoiceStyleFaces
import VoiceStyleImaging

/// `align`: detect, landmark and FFHQ-align the faces of photos.
public struct AlignRequest: Codable, Sendable, Equatable {
    /// Photos (JPEG or PNG) and folders of photos (walked recursively; .jpg/.jpeg/.png files).
    public var inputs: [String]
    /// Output folder: NAME.png per face (NAME_2.png … for further faces with `--face all`), alignment.json.
    public var out: String
    public var options = AlignOptions()
    /// Also NAME_preview.png: the photo with rectangles, landmarks and quad beside the aligned face.
    public var preview = false

    public init(inputs: [String], out: String) {
        self.inputs = inputs
        self.out = out
    }

    public func validate() throws {
        guard !inputs.isEmpty else { throw JobError("give at least one photo or folder to align") }
        for path in inputs where !FileManager.default.fileExists(atPath: path) { throw JobError("\(path) does not exist") }
        try options.validate()
    }
}

/// One photo in alignment.json.
public struct AlignedPhotoReport: Codable, Sendable, Equatable {
    public var file: String
    /// [width, height] when readable.
    public var size: [Int]?
    /// dlib's upsampling for this photo (the request's, lowered for very large photos).
    public var upsample: Int?
    public var detections: [FaceDetection]
    /// The faces written, with the chosen detection, quad and stage values.
    public var faces: [AlignedFaceReport]
    /// Why nothing was written (unreadable, no face).
    public var skipped: String?
}

public struct AlignedFaceReport: Codable, Sendable, Equatable {
    public var output: String
    public var alignment: FaceAlignmentNote
}

/// alignment.json.
public struct AlignReport: Codable, Sendable, Equatable {
    public var request: AlignRequest
    public var photos: [AlignedPhotoReport]
    public var seconds: Double
    public var faces: Int { photos.reduce(0) { $0 + $1.faces.count } }
    public var skipped: [SkippedItem] { photos.compactMap { p in p.skipped.map { SkippedItem(path: p.file, reason: $0) } } }
}

extension Jobs {
    /// The photos named by `inputs`: files as given, folders walked for .jpg/.jpeg/.png; each with the name its
    /// aligned face takes (folder-relative path without extension, so trees keep their shape; unique).
    static func photos(_ inputs: [String]) -> [(file: String, name: String)] { namedFiles(inputs, kind: FileTree.isPhoto) }

    /// The files named by `inputs`: files as given, folders walked for files `kind` accepts; each with the name
    /// of its outputs (folder-relative path without extension, so trees keep their shape; made unique in list
    /// order with -2, -3, …).
    static func namedFiles(_ inputs: [String], kind: (URL) -> Bool) -> [(file: String, name: String)] {
        var out: [(file: String, name: String)] = [], used = Set<String>()
        func add(_ file: String, _ name: String) {
            var unique = name, n = 2
            while used.contains(unique) { unique = "\(name)-\(n)"; n += 1 }
            used.insert(unique)
            out.append((file, unique))
        }
        for input in inputs {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: input, isDirectory: &isDir)
            if isDir.boolValue {
                for f in FileTree.files(under: URL(fileURLWithPath: input)) where kind(f.url) {
                    add(f.url.path, (f.parts.joined(separator: "/") as NSString).deletingPathExtension)
                }
            } else {
                add(input, URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent)
            }
        }
        return out
    }

    /// Aligns every face of every photo into `request.out` (created), writing alignment.json last.
    @discardableResult
    public static func align(_ request: AlignRequest, progress: JobProgress = { _ in }) throws -> AlignReport {
        try request.validate()
        let start = Date()
        let out = try Check.outputFolder("out", request.out)
        _ = try FaceDetector.shared(landmarkModel: request.options.landmarkModel)
        let photos = photos(request.inputs)
        guard !photos.isEmpty else { throw JobError("\(request.inputs.joined(separator: ", ")) hold(s) no .jpg, .jpeg or .png photo") }
        var reports: [AlignedPhotoReport] = []
        for (n, photo) in photos.enumerated() {
            progress(JobEvent(stage: "align", done: n, total: photos.count, detail: photo.file))
            var report = AlignedPhotoReport(file: photo.file, detections: [], faces: [])
            let image: RGBImage
            do { image = try ImageFile.read(URL(fileURLWithPath: photo.file)) } catch {
                report.skipped = plainMessage(error)
                reports.append(report)
                continue
            }
            report.size = [image.width, image.height]
            let alignment: PhotoAlignment
            do { alignment = try PhotoAligner.align(image, options: request.options) } catch {
                report.skipped = plainMessage(error)
                reports.append(report)
                continue
            }
            report.detections = alignment.detections
            report.upsample = alignment.upsample
            if alignment.faces.isEmpty { report.skipped = "no face found" }
            try FileManager.default.createDirectory(at: out.appendingPathComponent(photo.name).deletingLastPathComponent(), withIntermediateDirectories: true)
            for (k, face) in alignment.faces.enumerated() {
                let name = k == 0 ? photo.name : "\(photo.name)_\(k + 1)"
                try PNGCodec.write(face.image, to: out.appendingPathComponent(name + ".png"))
                report.faces.append(AlignedFaceReport(output: name + ".png", alignment: FaceAlignmentNote(face, of: alignment, options: request.options)))
            }
            if request.preview {
                let picture = AlignmentPreview.beforeAfter(image, alignment, quads: alignment.faces.map(\.steps.quad0))
                try PNGCodec.write(picture, to: out.appendingPathComponent(photo.name + "_preview.png"))
            }
            reports.append(report)
        }
        progress(JobEvent(stage: "align", done: photos.count, total: photos.count))
        let result = AlignReport(request: request, photos: reports, seconds: Date().timeIntervalSince(start))
        try reportJSON(AlignRequest.envelope(result)).writeOutput(to: out.appendingPathComponent("alignment.json"))
        guard reports.contains(where: { !$0.faces.isEmpty }) else {
            let first = reports.first { $0.skipped != nil }
            throw JobError("no face was aligned in the \(photos.count) photo(s) given (\(first.map { "\($0.file): \($0.skipped ?? "")" } ?? "none readable"); "
                           + "alignment.json in {out} lists each)")
        }
        return result
    }
}
