// Follows pSp scripts/align_all_parallel.py `get_landmark`: dlib's Python binding `detector(img, 1)`
// (tools/python/src/object_detection.cpp, run_detector_with_upscale1) then `predictor(img, d)`, in dlib's own
// C++ (Debian libdlib-dev 19.24) through the CDlibShim target.
import CDlibShim
import Foundation
import VoiceStyleImaging

/// The NUL-terminated message a shim call left in `err`.
func message(_ err: [CChar]) -> String { String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

/// One face dlib found in a photo.
public struct FaceDetection: Codable, Sendable, Equatable {
    /// The HOG detector's confidence (dlib `detection_confidence`; faces are reported best first).
    public var score: Double
    /// [left, top, right, bottom] in dlib's inclusive convention, in photo pixels.
    public var rect: [Int]
    /// The 68 landmarks (iBUG 300-W order: jaw 0–16, brows 17–26, nose 27–35, eyes 36–47, mouth 48–67),
    /// 68 × [x, y].
    public var landmarks: [[Int]]

    public init(score: Double, rect: [Int], landmarks: [[Int]]) {
        self.score = score
        self.rect = rect
        self.landmarks = landmarks
    }

    /// Area of the rectangle in pixels (what `--face largest` compares).
    public var area: Int { (rect[2] - rect[0] + 1) * (rect[3] - rect[1] + 1) }
}

public enum FaceDetectorError: Error, CustomStringConvertible, Equatable {
    case landmarkModelMissing(String)
    case dlib(String)

    public var description: String {
        switch self {
        case .landmarkModelMissing(let path):
            return "The 68-point landmark model \(path) does not exist; install Debian's libdlib-data (scripts/setup does) or pass --landmarks FILE."
        case .dlib(let message): return "dlib failed: \(message)."
        }
    }
}

/// dlib's frontal face detector and 68-point shape predictor. Detection is serialised (dlib's detector keeps
/// scratch state); the predictor is shared.
public final class FaceDetector: @unchecked Sendable {
    /// Where Debian's libdlib-data puts the 68-point model (99.7 MB; trained on iBUG 300-W, which excludes
    /// commercial use).
    public static let defaultLandmarkModel = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

    public let landmarkModel: String
    private let detector: OpaquePointer
    private let predictor: OpaquePointer
    private let lock = NSLock()

    /// Loads the predictor (≈ 0.5 s for the 100 MB model). Prefer `shared(landmarkModel:)`, which loads once.
    public init(landmarkModel: String = FaceDetector.defaultLandmarkModel) throws {
        guard FileManager.default.fileExists(atPath: landmarkModel) else { throw FaceDetectorError.landmarkModelMissing(landmarkModel) }
        var err = [CChar](repeating: 0, count: 512)
        guard let d = ds_detector_create(&err, Int32(err.count)) else { throw FaceDetectorError.dlib(message(err)) }
        guard let p = ds_predictor_load(landmarkModel, &err, Int32(err.count)) else {
            ds_detector_free(d)
            throw FaceDetectorError.dlib("cannot read the landmark model \(landmarkModel): \(message(err))")
        }
        guard ds_predictor_parts(p) == 68 else {
            ds_detector_free(d)
            ds_predictor_free(p)
            throw FaceDetectorError.dlib("\(landmarkModel) is not a 68-point model")
        }
        self.landmarkModel = landmarkModel
        detector = d
        predictor = p
    }

    deinit {
        ds_detector_free(detector)
        ds_predictor_free(predictor)
    }

    nonisolated(unsafe) private static var cache: [String: FaceDetector] = [:]
    private static let cacheLock = NSLock()

    /// One detector per model file for the whole process.
    public static func shared(landmarkModel: String = defaultLandmarkModel) throws -> FaceDetector {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let d = cache[landmarkModel] { return d }
        let d = try FaceDetector(landmarkModel: landmarkModel)
        cache[landmarkModel] = d
        return d
    }

    /// `detector(img, upsample)`: face rectangles and scores, best first.
    public func detect(_ image: RGBImage, upsample: Int = 1) throws -> [(rect: [Int], score: Double)] {
        precondition((0...3).contains(upsample), "upsample must be 0…3")
        guard image.width > 0 && image.height > 0 else { return [] }
        lock.lock()
        defer { lock.unlock() }
        var capacity = 16
        while true {
            var rects = [Int64](repeating: 0, count: 4 * capacity), scores = [Double](repeating: 0, count: capacity)
            var err = [CChar](repeating: 0, count: 512)
            let n = image.pixels.withUnsafeBufferPointer {
                ds_detect(detector, $0.baseAddress, Int32(image.width), Int32(image.height), Int32(upsample), 0, Int32(capacity),
                          &rects, &scores, &err, Int32(err.count))
            }
            guard n >= 0 else { throw FaceDetectorError.dlib(message(err)) }
            if Int(n) > capacity { capacity = Int(n); continue }
            return (0..<Int(n)).map { i in ((0..<4).map { Int(rects[4 * i + $0]) }, scores[i]) }
        }
    }

    /// `predictor(img, rect)`: 68 × [x, y].
    public func landmarks(_ image: RGBImage, rect: [Int]) throws -> [[Int]] {
        precondition(rect.count == 4, "a rectangle is [left, top, right, bottom]")
        var parts = [Int64](repeating: 0, count: 136)
        var err = [CChar](repeating: 0, count: 512)
        let r = rect.map(Int64.init)
        let status = image.pixels.withUnsafeBufferPointer {
            ds_landmarks(predictor, $0.baseAddress, Int32(image.width), Int32(image.height), r, &parts, &err, Int32(err.count))
        }
        guard status == 0 else { throw FaceDetectorError.dlib(message(err)) }
        return (0..<68).map { [Int(parts[2 * $0]), Int(parts[2 * $0 + 1])] }
    }

    /// Every face with its landmarks, best first (pSp's `get_landmark` loop, keeping all of them).
    public func faces(_ image: RGBImage, upsample: Int = 1) throws -> [FaceDetection] {
        try detect(image, upsample: upsample).map { FaceDetection(score: $0.score, rect: $0.rect, landmarks: try landmarks(image, rect: $0.rect)) }
    }
}
