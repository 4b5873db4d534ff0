// Follows pSp scripts/align_all_parallel.py (what one alignment did, kept so that it can be redone without
// detection): the note stored in alignment.json, invert's report and the records of an index that aligns.
import Foundation
import VoiceStyleImaging

/// How one face was aligned: stored in alignment.json, invert's report and index records.
public struct FaceAlignmentNote: Codable, Sendable, Equatable {
    /// Index of the face among the photo's detections (best first).
    public var detection: Int
    public var face: FaceDetection
    /// The quad on the photo (NW, SW, SE, NE) that became the aligned image.
    public var quad: [[Double]]
    public var steps: AlignmentSteps
    public var options: AlignOptions

    public init(_ face: AlignedFace, of alignment: PhotoAlignment, options: AlignOptions) {
        detection = face.detection
        self.face = alignment.detections[face.detection]
        quad = face.steps.quad0
        steps = face.steps
        self.options = options
    }

    /// The aligned image again from the stored landmarks (no detection): what indexes invert.
    public func realign(_ photo: RGBImage) throws -> RGBImage {
        try FFHQAlignment.align(photo, landmarks: face.landmarks, settings: options.settings).image
    }
}
