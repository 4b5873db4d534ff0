// Follows pSp scripts/align_all_parallel.py per photo (`get_landmark` then `align_face`), with a choice of face
// where pSp silently keeps the last detection.
import Foundation
import VoiceStyleImaging

/// Which face of a photo with several to align.
public enum FaceChoice: String, Codable, Sendable, CaseIterable {
    /// The face with the largest detection rectangle (ties: the higher score).
    case largest
    /// dlib's last detection (the lowest score): what pSp's `get_landmark` keeps.
    case last
    /// Every face.
    case all
}

/// How photos are aligned: FFHQ settings, which face, dlib's upsampling and landmark model.
public struct AlignOptions: Codable, Sendable, Equatable {
    /// 256 (pSp: a 256 transform; the default) or 1024 (FFHQ: a 4096 transform).
    public var size: Int
    public var face: FaceChoice
    /// Times the photo is doubled before detection (pSp: `detector(img, 1)`); 0 finds only faces ≥ 80 px.
    /// Lowered for very large photos (`PhotoAligner.upsample(for:requested:)`).
    public var upsample: Int
    /// The 68-point shape predictor file.
    public var landmarkModel: String

    public init(size: Int = 256, face: FaceChoice = .largest, upsample: Int = 1, landmarkModel: String = FaceDetector.defaultLandmarkModel) {
        self.size = size
        self.face = face
        self.upsample = upsample
        self.landmarkModel = landmarkModel
    }

    /// The alignment settings of `size`.
    public var settings: AlignmentSettings { size == 1024 ? .ffhq : .psp }

    /// Refuses unsupported settings before any photo is read.
    public func validate() throws {
        guard size == 256 || size == 1024 else {
            throw AlignOptionsError("--size must be 256 (pSp) or 1024 (FFHQ) (got \(size))")
        }
        guard (0...2).contains(upsample) else { throw AlignOptionsError("--upsample must be 0, 1 or 2 (got \(upsample))") }
        guard FileManager.default.fileExists(atPath: landmarkModel) else {
            throw FaceDetectorError.landmarkModelMissing(landmarkModel)
        }
    }
}

/// An alignment option refused, in one plain sentence.
public struct AlignOptionsError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One aligned face of a photo.
public struct AlignedFace: Sendable {
    /// Index of its detection in the photo's detections (best first).
    public var detection: Int
    public var steps: AlignmentSteps
    public var image: RGBImage
}

/// A photo's detections and the aligned faces chosen among them (none when dlib found no face).
public struct PhotoAlignment: Sendable {
    public var detections: [FaceDetection]
    public var faces: [AlignedFace]
    /// The upsampling the detector used (`PhotoAligner.upsample`).
    public var upsample: Int
}

public enum PhotoAligner {
    /// The detections `choice` keeps, as indexes into `detections` (best first).
    public static func chosen(_ detections: [FaceDetection], _ choice: FaceChoice) -> [Int] {
        guard !detections.isEmpty else { return [] }
        switch choice {
        case .all: return Array(detections.indices)
        case .last: return [detections.count - 1]
        case .largest: return [detections.indices.max { (detections[$0].area, -$0) < (detections[$1].area, -$1) }!]
        }
    }

    /// Pixels the detector may see after upsampling (each upsampling quadruples them): beyond, upsampling is
    /// lowered, so a 12-megapixel photo is searched as it is (its faces are far above the 80-px minimum) instead
    /// of as a 48-megapixel one (≈ 1 GB and tens of seconds).
    public static let maxDetectionPixels = 40_000_000

    /// The upsampling used for `image` when `requested` is asked: lowered until the upsampled photo has at most
    /// `maxDetectionPixels`.
    public static func upsample(for image: RGBImage, requested: Int) -> Int {
        var up = requested
        while up > 0 && image.width * image.height << (2 * up) > maxDetectionPixels { up -= 1 }
        return up
    }

    /// Detects, picks and aligns the faces of `image`.
    public static func align(_ image: RGBImage, options: AlignOptions) throws -> PhotoAlignment {
        let up = upsample(for: image, requested: options.upsample)
        let detections = try FaceDetector.shared(landmarkModel: options.landmarkModel).faces(image, upsample: up)
        let faces = try chosen(detections, options.face).map { i in
            let (aligned, steps) = try FFHQAlignment.align(image, landmarks: detections[i].landmarks, settings: options.settings)
            return AlignedFace(detection: i, steps: steps, image: aligned)
        }
        return PhotoAlignment(detections: detections, faces: faces, upsample: up)
    }
}
