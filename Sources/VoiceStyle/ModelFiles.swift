// The upstream model files voicestyle uses, where they live by default and where upstream publishes them.
import Foundation

/// One upstream model file.
public struct ModelFile: Sendable {
    /// File name inside `checkpoints/`.
    public let name: String
    /// What it is.
    public let what: String
    /// Where upstream publishes it.
    public let source: String

    public static let generator = ModelFile(name: "550000.pt", what: "rosinality StyleGAN2 FFHQ 256 px generator",
                                            source: "the rosinality/stylegan2-pytorch README (Google Drive link)")
    public static let cmpc = ModelFile(name: "model_best_256.pth.tar", what: "CMPC voice and face encoders",
                                       source: "the audio-visual/voicestyle README")
    public static let memory = ModelFile(name: "frame_memory_best_256.pth.tar", what: "CMPC k-means prototype memory",
                                         source: "the audio-visual/voicestyle README")
    public static let irse50 = ModelFile(name: "model_ir_se50.pth", what: "IR-SE50 face recognition (identity loss)",
                                         source: "the eladrich/pixel2style2pixel README (Google Drive link)")
    public static let vgg16 = ModelFile(name: "vgg16-397923af.pth", what: "torchvision VGG16 ImageNet weights (LPIPS features)",
                                        source: "torchvision's model zoo (the vgg16 ImageNet weights torchvision downloads)")
    public static let lpips = ModelFile(name: "vgg.pth", what: "LPIPS v0.1 linear heads",
                                        source: "richzhang/PerceptualSimilarity lpips/weights/v0.1/vgg.pth (also in pip lpips)")

    /// `explicit` if given, else `checkpoints/NAME` relative to the working directory; a missing file is a
    /// `ModelFileError` saying what it is and where to get it.
    public func resolve(_ explicit: String?) throws -> URL {
        let url = URL(fileURLWithPath: explicit ?? "checkpoints/\(name)")
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelFileError(file: self, path: url.path) }
        return url
    }
}

/// A model file that is not where it was expected.
public struct ModelFileError: Error, CustomStringConvertible {
    public let file: ModelFile
    public let path: String
    public var description: String {
        "missing \(path): the \(file.what) (\(file.name)). Download it from \(file.source) into checkpoints/, or give its path with the option."
    }
}
