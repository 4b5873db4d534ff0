// dlib's face recogniser on real photos (../shared/data/faces/vgg_frontal: 128×128 crops, one folder per identity)
// and against dlib's Python binding (Fixtures/dlib_descriptors.json). Skipped, with a note, when the model files
// (scripts/setup puts them in checkpoints/) or the shared photos are absent.
import Foundation
import Testing
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleTestSupport

private enum RecognizerFixture {
    /// The recogniser from the checkout's checkpoints/, or nil with a note.
    static func recognizer() throws -> FaceRecognizer? {
        let paths = [FaceRecognizer.defaultModel, FaceRecognizer.defaultShapePredictor].map { Fixtures.repoRoot.appendingPathComponent($0).path }
        guard paths.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else {
            print("note: \(paths.joined(separator: " or ")) is absent; run scripts/setup to run the face recogniser tests")
            return nil
        }
        return try FaceRecognizer.shared(model: paths[0], shapePredictor: paths[1])
    }

    /// ../shared/data/faces/vgg_frontal, or nil with a note.
    static func photos() -> URL? {
        let url = Fixtures.shared.appendingPathComponent("data/faces/vgg_frontal")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        print("note: \(url.path) is absent; set VOICESTYLE_SHARED to the shared/ folder to run this test")
        return nil
    }
}

private struct DlibReference: Decodable {
    struct Face: Decodable {
        var file: String
        var rect: [Int]
        var descriptor: [Float]
    }
    var faces: [Face]
}

private func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }

@Suite struct FaceRecognizerTests {
    @Test func matchesDlibPython() throws {
        guard let recognizer = try RecognizerFixture.recognizer(), let photos = RecognizerFixture.photos() else { return }
        let url = Fixtures.local("VoiceStyleFacesTests", "dlib_descriptors.json")
        let reference = try JSONDecoder().decode(DlibReference.self, from: Data(contentsOf: url))
        var worst: Float = 0
        for face in reference.faces {
            let image = try ImageFile.read(photos.appendingPathComponent(face.file))
            #expect(try FaceDetector.shared().detect(image).first?.rect == face.rect, "\(face.file)")
            let ours = try recognizer.descriptor(image, rect: face.rect)
            try #require(ours.count == face.descriptor.count)
            let diff = zip(ours, face.descriptor).map { abs($0 - $1) }.max() ?? 0
            #expect(diff < 1e-4, "\(face.file): max |ours − dlib Python| = \(diff)")
            worst = max(worst, diff)
        }
        print("dlib face descriptors vs dlib's Python compute_face_descriptor: max abs difference \(worst)")
    }

    @Test func separatesIdentities() throws {
        guard let recognizer = try RecognizerFixture.recognizer(), let photos = RecognizerFixture.photos() else { return }
        let detector = try FaceDetector.shared()
        let names = ["Freida_Pinto", "Garrett_Hedlund", "Jasika_Nicole", "Julia_Stiles"]
        var samples: [(name: String, descriptor: [Float])] = []
        let start = Date()
        for name in names {
            let folder = photos.appendingPathComponent(name)
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jpg") }.sorted()
            for file in files.prefix(3) {
                let faces = try recognizer.descriptors(ImageFile.read(folder.appendingPathComponent(file)), detector: detector)
                try #require(!faces.isEmpty, "\(name)/\(file): no face")
                samples.append((name, faces[0].descriptor))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var same: [Float] = [], different: [Float] = []
        var correct = 0
        for (i, a) in samples.enumerated() {
            var nearest = (distance: Float.infinity, name: "")
            for (j, b) in samples.enumerated() where j != i {
                let d = distance(a.descriptor, b.descriptor)
                if j > i { if a.name == b.name { same.append(d) } else { different.append(d) } }
                if d < nearest.distance { nearest = (d, b.name) }
            }
            if nearest.name == a.name { correct += 1 }
        }
        let meanSame = same.reduce(0, +) / Float(same.count), meanDifferent = different.reduce(0, +) / Float(different.count)
        let norms = samples.map { distance($0.descriptor, [Float](repeating: 0, count: $0.descriptor.count)) }
        print("""
            dlib recogniser on \(samples.count) photos of \(names.count) identities: mean distance same \(meanSame), different \(meanDifferent); \
            nearest neighbour correct \(correct)/\(samples.count); norms \(norms.min()!)…\(norms.max()!); \
            \(String(format: "%.1f", Double(samples.count) / seconds)) faces/s (detection, landmarks and descriptor)
            """)
        #expect(meanSame < meanDifferent)
        #expect(meanSame < 0.6, "dlib's threshold for the same person is 0.6")
        #expect(correct >= samples.count - 2)
        #expect(norms.allSatisfy { (0.5...2.5).contains($0) })
    }

    @Test func batchEqualsOneByOne() throws {
        guard let recognizer = try RecognizerFixture.recognizer(), let photos = RecognizerFixture.photos() else { return }
        let image = try ImageFile.read(photos.appendingPathComponent("Julia_Stiles/00000001.jpg"))
        let rects = [[20, 20, 107, 107], [10, 30, 100, 120], [0, 0, 127, 127]]
        let batch = try recognizer.descriptors(image, rects: rects)
        for (rect, b) in zip(rects, batch) {
            let one = try recognizer.descriptor(image, rect: rect)
            #expect(zip(one, b).allSatisfy { abs($0 - $1) < 1e-5 }, "\(rect)")
        }
        #expect(try recognizer.descriptors(image, rects: []).isEmpty)
    }

    @Test func missingModelSaysHowToGetIt() {
        #expect(throws: FaceRecognizerError.modelMissing("/nonexistent.dat")) { try FaceRecognizer(model: "/nonexistent.dat") }
        #expect(FaceRecognizerError.modelMissing("x.dat").description.contains("scripts/setup"))
        let notAModel = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-model-\(getpid()).dat")
        _ = FileManager.default.createFile(atPath: notAModel.path, contents: Data("hello".utf8))
        defer { try? FileManager.default.removeItem(at: notAModel) }
        #expect(throws: FaceRecognizerError.self) { try FaceRecognizer(model: notAModel.path, shapePredictor: notAModel.path) }
    }
}
