// dlib detections and 68 landmarks against ../shared/fixtures/align/reference.json (MANIFEST Part C §8).
import Foundation
import Testing
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleTestSupport

@Suite struct FaceDetectorTests {
    @Test func placeholder() {}
}
