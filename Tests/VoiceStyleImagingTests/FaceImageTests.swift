// Decoding the real sample faces and the upstream preprocessing against ../shared/fixtures/imaging
// (Pillow 13 + libjpeg-turbo decode; torchvision Resize/CenterCrop; cmpc2's bicubic resize).
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleTestSupport

@Suite("Face images")
struct FaceImageTests {
    @Test("JPEG decode within 1 level; projector and CMPC preprocessing within 1/255 mean absolute error")
    func referenceFaces() throws {
        guard let npz = Fixtures.sharedFixture("imaging/faces_reference.npz"),
              let list = Fixtures.sharedFixture("imaging/faces_reference.json") else { return }
        let arrays = Dictionary(try NumPyFile.readNpz(npz).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let files = (try JSONSerialization.jsonObject(with: Data(contentsOf: list)) as! [String: Any])["files"] as! [String]
        let faces = Fixtures.shared.appendingPathComponent("data/faces/vgg_frontal")
        for (n, file) in files.enumerated() {
            let image = try ImageFile.read(faces.appendingPathComponent(file))
            let rgb = arrays["img\(n).rgb8"]!.doubles()
            #expect(rgb.count == image.pixels.count, "\(file) size")
            let worst = zip(rgb, image.pixels).map { abs($0 - Double($1)) }.max() ?? 0
            #expect(worst <= 1, "\(file): decode differs by \(worst) levels")
            for (key, ours) in [("projector_256", FacePreprocessing.projector(image)), ("cmpc_256", FacePreprocessing.cmpc(image))] {
                let ref = arrays["img\(n).\(key)"]!.doubles()
                let mae = zip(ref, ours.buffer).map { abs($0 - Double($1)) }.reduce(0, +) / Double(ref.count)
                // Both are in [-1, 1]: one 8-bit level is 2/255 there.
                #expect(mae <= 2.0 / 255, "\(file) \(key): mean absolute error \(mae * 127.5) levels")
            }
        }
    }

    @Test("EXIF orientations 2–8 and JPEG round trip")
    func orientationAndRoundTrip() throws {
        let img = RGBImage(width: 3, height: 2, pixels: [10, 0, 0, 20, 0, 0, 30, 0, 0, 40, 0, 0, 50, 0, 0, 60, 0, 0])
        let red = { (i: RGBImage) in stride(from: 0, to: i.pixels.count, by: 3).map { i.pixels[$0] } }
        #expect(red(img.oriented(2)) == [30, 20, 10, 60, 50, 40])
        #expect(red(img.oriented(3)) == [60, 50, 40, 30, 20, 10])
        #expect(red(img.oriented(6)).count == 6 && img.oriented(6).width == 2)
        #expect(red(img.oriented(6)) == [40, 10, 50, 20, 60, 30])  // rotate 90° clockwise
        #expect(red(img.oriented(8)) == [30, 60, 20, 50, 10, 40])  // rotate 90° counter-clockwise
        var rng = SeededGenerator(seed: 4)
        var values = [UInt8](repeating: 0, count: 64 * 48 * 3)
        for i in values.indices { values[i] = UInt8((i / 3 % 64) * 3 + Int(rng.next() % 8)) }
        let big = RGBImage(width: 64, height: 48, pixels: values)
        let back = try JPEGCodec.decode(try JPEGCodec.encode(big, quality: 95))
        var total = 0.0
        for (a, b) in zip(big.pixels, back.pixels) { total += abs(Double(a) - Double(b)) }
        let mae = total / Double(big.pixels.count)
        #expect(back.width == 64 && back.height == 48 && mae < 4)
    }

    @Test("corrupt and truncated JPEGs throw; never exit")
    func corrupt() throws {
        #expect(throws: ImageError.self) { _ = try JPEGCodec.decode(Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3])) }
        #expect(throws: ImageError.self) { _ = try JPEGCodec.decode(Data("garbage".utf8)) }
        let good = try JPEGCodec.encode(RGBImage(width: 16, height: 16))
        var rng = SeededGenerator(seed: 12)
        for _ in 0..<300 {
            var m = good
            m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
            if rng.next() % 2 == 0 { m = m.prefix(Int(rng.next() % UInt64(m.count))) }
            _ = try? JPEGCodec.decode(m)
        }
    }
}
