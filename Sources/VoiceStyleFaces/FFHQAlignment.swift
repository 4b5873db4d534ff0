// Follows eladrich/pixel2style2pixel scripts/align_all_parallel.py `align_face` (the NVlabs ffhq-dataset
// `recreate_aligned_images` recipe). PLACEHOLDER: the implementation lands with the alignment work.
import Foundation
import VoiceStyleImaging

/// FFHQ alignment sizes: pSp's (output 256 from a 256 transform, the default) and the original FFHQ dataset's
/// (output 1024 from a 4096 transform).
public struct AlignmentSettings: Codable, Sendable, Equatable {
    /// Side of the aligned image (pSp `output_size`).
    public var outputSize: Int
    /// Side of the quad transform before the final Lanczos resize (pSp `transform_size`).
    public var transformSize: Int
    /// Reflect padding with blur and median blending where the quad leaves the photo (pSp `enable_padding`).
    public var enablePadding: Bool

    public init(outputSize: Int = 256, transformSize: Int = 256, enablePadding: Bool = true) {
        self.outputSize = outputSize
        self.transformSize = transformSize
        self.enablePadding = enablePadding
    }

    /// pSp / e4e / PTI: 256 from 256.
    public static let psp = AlignmentSettings()
    /// The FFHQ dataset: 1024 from 4096.
    public static let ffhq = AlignmentSettings(outputSize: 1024, transformSize: 4096)
}

/// The intermediate values of `align_face`, as `reference.json` stores them (pixel coordinates of the photo
/// as the stage sees it).
public struct AlignmentSteps: Codable, Sendable, Equatable {
    /// The oriented quad on the photo: 4 × [x, y] (NW, SW, SE, NE).
    public var quad0: [[Double]]
    /// Its side length.
    public var qsize0: Double
    /// `floor(qsize / output_size · 0.5)`; the photo is shrunk only when > 1.
    public var shrink: Int
    /// [left, top, right, bottom] when the photo was cropped, else nil.
    public var crop: [Int]?
    /// [left, top, right, bottom] reflect padding when applied, else nil.
    public var pad: [Int]?
    /// The quad handed to the transform (before `+ 0.5`).
    public var quad: [[Double]]
    /// `max(rint(qsize · 0.1), 3)`.
    public var border: Int
}

public enum FFHQAlignment {
    /// The aligned face of `image` given dlib's 68 landmarks (68 × [x, y]).
    public static func align(_ image: RGBImage, landmarks: [[Int]], settings: AlignmentSettings = .psp) -> (image: RGBImage, steps: AlignmentSteps) {
        fatalError("FFHQAlignment.align is not implemented yet")
    }
}
