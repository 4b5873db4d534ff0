// dlib detections and 68 landmarks against ../shared/fixtures/align/reference.json (MANIFEST Part C §8):
// identical on the lossless PNGs, within 2 px on the JPEGs (decoded by TurboJPEG, the fixture by Pillow).
import Foundation
import Testing
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleTestSupport

struct AlignReference: Decodable {
    struct Detection: Decodable {
        var score: Double
        var rect: [Int]
        var parts: [[Int]]
    }
    var file: String
    var size: [Int]
    var detections: [Detection]
    var aligned256: String?
    var ffhq1024: String?

    /// reference.json by image name, or nil when ../shared is absent.
    static func load() throws -> (folder: URL, entries: [String: AlignReference])? {
        guard let url = Fixtures.sharedFixture("align/reference.json") else { return nil }
        return (url.deletingLastPathComponent(), try JSONDecoder().decode([String: AlignReference].self, from: Data(contentsOf: url)))
    }
}

@Suite struct FaceDetectorTests {
    @Test func detectionsAndLandmarksMatchDlib() throws {
        guard let (folder, entries) = try AlignReference.load() else { return }
        let detector = try FaceDetector.shared()
        var worstJPEG = 0
        for (name, ref) in entries.sorted(by: { $0.key < $1.key }) {
            let image = try ImageFile.read(folder.appendingPathComponent(ref.file))
            #expect([image.width, image.height] == ref.size, "\(name)")
            let faces = try detector.faces(image)
            try #require(faces.count == ref.detections.count, "\(name): \(faces.count) faces, dlib found \(ref.detections.count)")
            let exact = ref.file.hasSuffix(".png")
            for (f, r) in zip(faces, ref.detections) {
                let rectDiff = zip(f.rect, r.rect).map { abs($0 - $1) }.max() ?? 0
                let partDiff = zip(f.landmarks.joined(), r.parts.joined()).map { abs($0 - $1) }.max() ?? 0
                if exact {
                    #expect(f.rect == r.rect, "\(name)")
                    #expect(f.landmarks == r.parts, "\(name)")
                    #expect(abs(f.score - r.score) < 1e-4, "\(name): score \(f.score) vs \(r.score)")
                } else {
                    #expect(rectDiff <= 2 && partDiff <= 2, "\(name): rectangle off by \(rectDiff) px, landmarks by \(partDiff) px")
                    worstJPEG = max(worstJPEG, rectDiff, partDiff)
                }
            }
        }
        print("dlib on JPEGs decoded by TurboJPEG: worst rectangle/landmark difference \(worstJPEG) px")
    }

    @Test func noFaceInBlankOrNoise() throws {
        guard let (folder, _) = try AlignReference.load() else { return }
        for file in ["no_face_grey.png", "no_face_noise.png"] {
            #expect(try FaceDetector.shared().faces(ImageFile.read(folder.appendingPathComponent(file))).isEmpty)
        }
        #expect(try FaceDetector.shared().faces(RGBImage(width: 1, height: 1)).isEmpty)
    }

    @Test func largePhotosAreNotUpsampledBeyondTheBound() {
        #expect(PhotoAligner.upsample(for: RGBImage(width: 3000, height: 3000), requested: 1) == 1)
        #expect(PhotoAligner.upsample(for: RGBImage(width: 4000, height: 3000), requested: 1) == 0)
        #expect(PhotoAligner.upsample(for: RGBImage(width: 2000, height: 1500), requested: 2) == 1)
        #expect(PhotoAligner.upsample(for: RGBImage(width: 600, height: 600), requested: 2) == 2)
    }

    @Test func missingModelIsAPlainError() {
        #expect(throws: FaceDetectorError.landmarkModelMissing("/nonexistent.dat")) { try FaceDetector(landmarkModel: "/nonexistent.dat") }
        let notAModel = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-model-\(getpid()).dat")
        FileManager.default.createFile(atPath: notAModel.path, contents: Data("hello".utf8))
        defer { try? FileManager.default.removeItem(at: notAModel) }
        #expect(throws: FaceDetectorError.self) { try FaceDetector(landmarkModel: notAModel.path) }
    }
}
