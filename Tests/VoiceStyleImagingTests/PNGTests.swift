// PNG codec round trips and colour-type conversions; upstream make_image on a fixture output.
import CPNG
import Foundation
import Testing
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleTestSupport

/// PNG bytes in another libpng format (grey, grey+alpha, RGBA, 16-bit), written with the C API.
private func pngBytes(width: Int, height: Int, format: UInt32, pixels: [UInt8]) -> Data {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(width)
    png.height = UInt32(height)
    png.format = format
    var size = 0
    _ = pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
    var out = Data(count: size)
    _ = out.withUnsafeMutableBytes { d in pixels.withUnsafeBytes { png_image_write_to_memory(&png, d.baseAddress, &size, 0, $0.baseAddress, 0, nil) } }
    return out.prefix(size)
}

@Suite("PNG")
struct PNGTests {
    @Test("RGB round trip is lossless")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 1)
        let img = RGBImage(width: 17, height: 9, pixels: (0..<(17 * 9 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vs-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: url) }
        try PNGCodec.write(img, to: url)
        #expect(try PNGCodec.read(url) == img)
    }

    @Test("grey, grey+alpha, RGBA and 16-bit inputs decode to RGB")
    func colourTypes() throws {
        let grey: [UInt8] = [0, 64, 128, 255]
        let g = try PNGCodec.decode(pngBytes(width: 2, height: 2, format: UInt32(PNG_FORMAT_GRAY), pixels: grey))
        #expect(g.pixels == grey.flatMap { [$0, $0, $0] })
        // Opaque pixels keep their colour; fully transparent ones become the black background.
        let rgba: [UInt8] = [200, 100, 50, 255, 9, 9, 9, 0]
        let a = try PNGCodec.decode(pngBytes(width: 2, height: 1, format: UInt32(PNG_FORMAT_RGB) | UInt32(PNG_FORMAT_FLAG_ALPHA), pixels: rgba))
        #expect(Array(a.pixels[0..<3]) == [200, 100, 50] && Array(a.pixels[3..<6]) == [0, 0, 0])
        // 16-bit linear RGB: white and black survive the reduction to 8 bits.
        let sixteen: [UInt16] = [65535, 65535, 65535, 0, 0, 0]
        let bytes = sixteen.withUnsafeBytes { Array($0) }
        let s = try PNGCodec.decode(pngBytes(width: 2, height: 1, format: UInt32(PNG_FORMAT_RGB) | UInt32(PNG_FORMAT_FLAG_LINEAR), pixels: bytes))
        #expect(s.pixels == [255, 255, 255, 0, 0, 0])
    }

    @Test("damaged PNG data throws")
    func damaged() throws {
        let good = try PNGCodec.encode(RGBImage(width: 4, height: 4))
        #expect(throws: ImageError.self) { _ = try PNGCodec.decode(good.prefix(20)) }
        #expect(throws: ImageError.self) { _ = try PNGCodec.decode(Data("not a png".utf8)) }
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<300 {
            var m = good
            m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
            _ = try? PNGCodec.decode(m)
        }
    }

    @Test("make_image: clamp, scale and truncate exactly as upstream")
    func makeImage() throws {
        guard let url = Fixtures.sharedFixture("refine/refine_4steps.safetensors") else { return }
        let f = try Fixtures.load(url)
        let img = ImageTensors.images(try f.tensor("final_img"))[0]
        let ref = try f.tensor("final_make_image").scalars.map { UInt8($0) }  // [1, 32, 32, 3] NHWC
        #expect(img.pixels == ref)
        let t = Tensor<Float>(shape: [1, 3, 1, 2], scalars: [-2, 1.5, 0, 0.999, 1, -1])
        // Pixel 0 = (R −2→0, G 0→127, B 1→255), pixel 1 = (R 1.5→255, G 0.999→254 truncated, B −1→0).
        #expect(ImageTensors.images(t)[0].pixels == [0, 127, 255, 255, 254, 0])
    }

    @Test("grid layout with padding")
    func grid() {
        let a = RGBImage(width: 2, height: 1, pixels: [1, 1, 1, 2, 2, 2]), b = RGBImage(width: 2, height: 1, pixels: [3, 3, 3, 4, 4, 4])
        let g = ImageTensors.grid([a, b, a], columns: 2, padding: 1)
        #expect(g.width == 7 && g.height == 5)
        #expect(Array(g.pixels[((1 * 7) + 1) * 3..<((1 * 7) + 3) * 3]) == [1, 1, 1, 2, 2, 2])
        #expect(Array(g.pixels[((1 * 7) + 4) * 3..<((1 * 7) + 6) * 3]) == [3, 3, 3, 4, 4, 4])
        #expect(g.pixels[0] == 0)
    }
}
