// FFHQ alignment (pSp scripts/align_all_parallel.py `align_face`) against ../shared/fixtures/align/reference.json
// and its aligned images (MANIFEST §8), plus the shrink path and Pillow's Lanczos resize.
import Foundation
import Testing
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleTestSupport

/// One image of reference.json.
private struct ReferenceImage: Decodable {
    struct Detection: Decodable { let parts: [[Int]] }
    let file: String
    let size: [Int]
    let detections: [Detection]
    let aligned256: String?
    let ffhq1024: String?
    let align256_steps: AlignmentSteps?
    let ffhq1024_steps: AlignmentSteps?

    /// pSp keeps the last detection's landmarks.
    var landmarks: [[Int]]? { detections.last?.parts }

    /// (settings, reference steps, aligned file) for each setting given.
    var cases: [(AlignmentSettings, AlignmentSteps, String)] {
        var c: [(AlignmentSettings, AlignmentSteps, String)] = []
        if let s = align256_steps, let f = aligned256 { c.append((.psp, s, f)) }
        if let s = ffhq1024_steps, let f = ffhq1024 { c.append((.ffhq, s, f)) }
        return c
    }
}

private func reference() throws -> (URL, [(String, ReferenceImage)])? {
    guard let url = Fixtures.sharedFixture("align/reference.json") else { return nil }
    let all = try JSONDecoder().decode([String: ReferenceImage].self, from: Data(contentsOf: url))
    return (url.deletingLastPathComponent(), all.sorted { $0.key < $1.key })
}

/// Worst |a − r| over the 2-D arrays of two quads.
private func quadError(_ a: [[Double]], _ r: [[Double]]) -> Double {
    zip(a, r).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? .infinity
}

private func expectSteps(_ s: AlignmentSteps, _ r: AlignmentSteps, _ what: String) {
    #expect(quadError(s.quad0, r.quad0) <= 1e-6, "\(what): quad0 \(s.quad0) vs \(r.quad0)")
    #expect(abs(s.qsize0 - r.qsize0) <= 1e-6, "\(what): qsize0 \(s.qsize0) vs \(r.qsize0)")
    #expect(s.shrink == r.shrink && s.crop == r.crop && s.pad == r.pad && s.border == r.border,
            "\(what): shrink/crop/pad/border \(s.shrink) \(String(describing: s.crop)) \(String(describing: s.pad)) \(s.border) vs \(r.shrink) \(String(describing: r.crop)) \(String(describing: r.pad)) \(r.border)")
    #expect(s.quad.count == 4 && quadError(s.quad, r.quad) <= 1e-6, "\(what): quad \(s.quad) vs \(r.quad)")
}

/// Mean and max absolute difference of two images of one size.
private func difference(_ a: RGBImage, _ b: RGBImage) -> (mean: Double, max: Int) {
    precondition(a.width == b.width && a.height == b.height, "\(a.width)×\(a.height) vs \(b.width)×\(b.height)")
    var total = 0, worst = 0
    for (x, y) in zip(a.pixels, b.pixels) {
        let d = abs(Int(x) - Int(y))
        total += d
        worst = max(worst, d)
    }
    return (Double(total) / Double(a.pixels.count), worst)
}

@Suite(.serialized) struct FFHQAlignmentTests {
    @Test("every stage (quad0, qsize0, shrink, crop, pad, quad, border) within 1e-6 of reference.json, both settings")
    func stages() throws {
        guard let (_, images) = try reference() else { return }
        var checked = 0
        for (name, image) in images {
            guard let lm = image.landmarks else { continue }
            for (settings, ref, _) in image.cases {
                let s = try FFHQAlignment.steps(landmarks: lm, width: image.size[0], height: image.size[1], settings: settings)
                expectSteps(s, ref, "\(name) \(settings.outputSize)/\(settings.transformSize)")
                checked += 1
            }
        }
        #expect(checked == 38)
    }

    @Test("aligned images within 2 grey levels (mean abs) of *_aligned256.png and *_ffhq1024.png")
    func alignedImages() throws {
        guard let (dir, images) = try reference() else { return }
        var worst: [Int: (mean: Double, max: Int, name: String)] = [:]
        var seconds: [Int: [Double]] = [:]
        for (name, image) in images {
            guard let lm = image.landmarks else { continue }
            let photo = try ImageFile.read(dir.appendingPathComponent(image.file))  // no fixture has EXIF orientation
            for (settings, ref, file) in image.cases {
                let start = Date()
                let (aligned, steps) = try FFHQAlignment.align(photo, landmarks: lm, settings: settings)
                seconds[settings.transformSize, default: []].append(Date().timeIntervalSince(start))
                expectSteps(steps, ref, name)
                let d = difference(aligned, try ImageFile.read(dir.appendingPathComponent(file)))
                #expect(d.mean <= 2, "\(file): mean abs difference \(d.mean)")
                let w = worst[settings.outputSize]
                worst[settings.outputSize] = (max(w?.mean ?? 0, d.mean), max(w?.max ?? 0, d.max), w == nil || d.mean > w!.mean ? file : w!.name)
            }
        }
        for (size, w) in worst.sorted(by: { $0.key < $1.key }) {
            print("FFHQ alignment \(size): worst mean abs difference \(w.mean) (\(w.name)), max abs difference \(w.max)")
        }
        for (size, s) in seconds.sorted(by: { $0.key < $1.key }) {
            print("FFHQ alignment, transform \(size): \(s.count) images, mean \(s.reduce(0, +) / Double(s.count)) s, slowest \(s.max()!) s")
        }
    }

    @Test("shrink > 1 with crop and pad matches local Pillow/NumPy/SciPy (Fixtures/README.md)")
    func shrinkCropPad() throws {
        guard let dir = Fixtures.sharedFixture("align") else { return }
        let (name, scale, dx, dy) = ("Fawad_Khan_1_lossless", 5, 200, 150)
        let all = try JSONDecoder().decode([String: ReferenceImage].self, from: Data(contentsOf: dir.appendingPathComponent("reference.json")))
        let src = try ImageFile.read(dir.appendingPathComponent("\(name).png"))
        let (w, h) = (2000, 1800)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let (sx, sy) = ((x + dx) / scale, (y + dy) / scale)
                for c in 0..<3 {
                    pixels[(y * w + x) * 3 + c] = sx < src.width && sy < src.height
                        ? src.pixels[(sy * src.width + sx) * 3 + c] : UInt8((x * 7 + y * 3 + c * 50) % 256)
                }
            }
        }
        let lm = try #require(all[name]?.landmarks).map { [$0[0] * scale + scale / 2 - dx, $0[1] * scale + scale / 2 - dy] }
        let (aligned, steps) = try FFHQAlignment.align(RGBImage(width: w, height: h, pixels: pixels), landmarks: lm)
        let expected = AlignmentSteps(
            quad0: [[-170.97162967717748, -87.58069649198808], [-150.83069649198808, 1248.9716296771776],
                    [1185.7216296771774, 1228.830696491988], [1165.5806964919882, -107.72162967717748]],
            qsize0: 1336.7040726270634, shrink: 2, crop: [0, 0, 660, 692], pad: [201, 201, 201, 201],
            quad: [[115.51418516141126, 157.20965175400596], [125.58465175400596, 825.4858148385888],
                   [793.8608148385887, 815.415348245994], [783.7903482459941, 147.13918516141126]],
            border: 67)
        expectSteps(steps, expected, "shrink case")
        let d = difference(aligned, try ImageFile.read(Fixtures.local("VoiceStyleFacesTests", "shrink_crop_pad_256.png")))
        print("FFHQ alignment shrink/crop/pad: mean abs difference \(d.mean), max abs difference \(d.max)")
        #expect(d.mean <= 0.5)
    }

    @Test("Lanczos, bilinear and bicubic resizes equal Pillow 13's byte for byte (either pass order)")
    func resizeMatchesPillow() throws {
        guard let url = Fixtures.sharedFixture("align/Fawad_Khan_1_lossless.png") else { return }
        let image = try ImageFile.read(url)
        // FNV-1a 64 of Pillow 13's `Image.resize(size, filter).tobytes()`.
        let cases: [(ResampleFilter, Int, Int, UInt64)] = [
            (.lanczos, 97, 131, 0x095954b1f61b96ef), (.lanczos, 600, 500, 0x548bfeece444422a),
            (.lanczos, 280, 90, 0x50ae46eb27ec6d79), (.lanczos, 300, 100, 0x01f1994ab8473d1a),
            (.lanczos, 250, 150, 0xa69db861175fd89a), (.bilinear, 150, 400, 0x1ae1fbffab02179d),
            (.bicubic, 333, 120, 0x9d24b590b840a531),
        ]
        for (filter, w, h, hash) in cases {
            let bytes = image.resized(width: w, height: h, filter: filter).pixels
            let fnv = bytes.reduce(UInt64(0xcbf29ce484222325)) { ($0 ^ UInt64($1)) &* 0x100000001b3 }
            #expect(fnv == hash, "\(filter) \(w)×\(h)")
        }
    }

    @Test("bad landmarks, settings and images throw clear errors")
    func invalidInputs() throws {
        let image = RGBImage(width: 64, height: 64)
        let face = (0..<68).map { i in [20 + (i * 7) % 25, 20 + (i * 11) % 25] }
        func failure(_ lm: [[Int]], _ img: RGBImage = image, _ settings: AlignmentSettings = .psp) -> AlignmentError? {
            do { _ = try FFHQAlignment.align(img, landmarks: lm, settings: settings) } catch let e as AlignmentError { return e } catch { return nil }
            return nil
        }
        #expect(failure(Array(face.prefix(5)))?.description == "The landmarks are unusable: 68 points are needed, not 5.")
        #expect(failure(face.enumerated().map { $0.offset == 3 ? [1] : $0.element }) == .landmarks("point 3 is not an [x, y] pair within ±2^30"))
        #expect(failure(Array(repeating: [30, 30], count: 68)) == .noFace)
        #expect(failure(Array(repeating: [30, 30], count: 68))?.description == "The landmarks describe no face (eyes and mouth coincide).")
        #expect(failure(face.map { [$0[0] + 100_000, $0[1]] }) == .faceOutsideImage)
        #expect(failure(face, image, AlignmentSettings(outputSize: 0)) == .settings(AlignmentSettings(outputSize: 0)))
        #expect(failure(face, RGBImage(width: 0, height: 0)) == .emptyImage)
        // A tiny face still aligns (no division by zero, no trap).
        let tiny = (0..<68).map { i in [30 + i % 2, 30 + (i / 34)] }
        #expect(throws: Never.self) { try FFHQAlignment.align(image, landmarks: tiny) }
    }
}
