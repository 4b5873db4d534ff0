// `voicestyle align` and `--align` (issue: faces as users have them): a batch never fails on one bad photo, an
// aligned index keeps its landmarks and inverts the aligned crop, invert aligns first. Photos come from the
// bundled demo faces plus a truncated and a faceless file made here, so nothing outside the repository is needed.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// A folder of two identities' bundled photos, a photo without a face and a truncated JPEG.
private func photoFolder() throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-align-\(UUID().uuidString)")
    let faces = root.appendingPathComponent("faces")
    for (id, files) in [("Jeremy_Irvine", ["00000004.jpg", "00000005.jpg"]), ("Julia_Stiles", ["00000001.jpg", "00000010.jpg"])] {
        try FileManager.default.createDirectory(at: faces.appendingPathComponent(id), withIntermediateDirectories: true)
        for f in files {
            try FileManager.default.copyItem(at: try Demo.data.appendingPathComponent("faces/\(id)/\(f)"), to: faces.appendingPathComponent("\(id)/\(f)"))
        }
    }
    try PNGCodec.write(RGBImage(width: 160, height: 120, pixels: [UInt8](repeating: 128, count: 160 * 120 * 3)),
                       to: faces.appendingPathComponent("Julia_Stiles/grey.png"))
    let jpeg = try Data(contentsOf: faces.appendingPathComponent("Jeremy_Irvine/00000004.jpg"))
    try jpeg.prefix(jpeg.count / 2).write(to: faces.appendingPathComponent("Jeremy_Irvine/truncated.jpg"))
    try Data("not a photo".utf8).write(to: faces.appendingPathComponent("Jeremy_Irvine/notes.txt"))
    return root
}

@Suite("Face alignment jobs", .serialized)
struct AlignmentJobTests {
    @Test("align a folder: good photos aligned, no-face and truncated listed with reasons, exit 0")
    func batch() throws {
        let root = try photoFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("aligned")
        let r = try runTool(["align", root.appendingPathComponent("faces").path, "--out", out.path, "--preview", "--quiet"], in: root)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("aligned 4 face(s) from 4 of 6 photo(s)"), "\(r.stdout)")
        #expect(r.stderr.contains("grey.png: no face found"), "\(r.stderr)")
        #expect(r.stderr.contains("truncated.jpg"), "\(r.stderr)")
        let report = try decodeReport(AlignReport.self, from: Data(contentsOf: out.appendingPathComponent("alignment.json")))
        #expect(report.photos.count == 6 && report.faces == 4 && report.skipped.count == 2)
        for p in report.photos where p.skipped == nil {
            guard let face = p.faces.first else {
                Issue.record("\(p.file): no face written")
                continue
            }
            #expect(face.alignment.face.landmarks.count == 68)
            let img = try PNGCodec.read(out.appendingPathComponent(face.output))
            #expect(img.width == 256 && img.height == 256)
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(face.output.replacingOccurrences(of: ".png", with: "_preview.png")).path))
        }
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("Jeremy_Irvine/00000004.png").path))

        let bad = try runTool(["align", root.path, "--out", out.path, "--size", "512"], in: root)
        #expect(bad.status == 1 && bad.stderr.contains("--size must be 256 (pSp) or 1024 (FFHQ) (got 512)"), "\(bad.stderr)")
        let missing = try runTool(["align", root.appendingPathComponent("nope.jpg").path, "--out", out.path], in: root)
        #expect(missing.status == 1 && missing.stderr.contains("nope.jpg does not exist"), "\(missing.stderr)")
    }

    @Test("index build --align: aligned embeddings, landmarks stored, aligned crop inverted; one preparation per index")
    func alignedIndex() throws {
        let root = try photoFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let loader = ModelLoader()
        try Demo.register(in: loader)
        var build = BuildIndexRequest(index: root.appendingPathComponent("index").path, faces: root.appendingPathComponent("faces").path)
        build.cmpc = Demo.models.cmpc
        build.align = AlignOptions()
        let report = try Jobs.buildIndex(build, models: loader)
        #expect(report.summary.embedded == 4)
        #expect(report.summary.skipReasons["no face found"] == 1)
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: build.index))
        let stored = try index.store.record(path: "Julia_Stiles/00000010.jpg")?.alignment
        let note = try JSONDecoder().decode(FaceAlignmentNote.self, from: Data((stored ?? "").utf8))
        #expect(note.face.landmarks.count == 68 && note.options == AlignOptions())

        // The image the index inverts is the aligned crop, the same pixels `align` writes.
        let out = root.appendingPathComponent("aligned")
        try Jobs.align(AlignRequest(inputs: [root.appendingPathComponent("faces/Julia_Stiles/00000010.jpg").path], out: out.path))
        let (g, ref) = try loader.generator(Demo.models.generator)
        let latents = LatentSource(index: index, generator: g, generatorSHA256: ref.sha256, settings: PrototypeInversionSettings()) {
            throw JobError("no inversion in this test")
        }
        #expect(latents.image("Julia_Stiles/00000010.jpg") == (try PNGCodec.read(out.appendingPathComponent("00000010.png"))))

        // The same index without --align is refused before any image is read.
        build.align = nil
        #expect(throws: IndexError.self) { try Jobs.buildIndex(build, models: loader) }
        build.align = AlignOptions(face: .all)
        #expect(throws: JobError.self) { try Jobs.buildIndex(build, models: loader) }
    }

    @Test("invert --align: the aligned face is the target, its landmarks in the report; a faceless photo is skipped")
    func invertAligned() throws {
        let root = try photoFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let loader = ModelLoader()
        try Demo.register(in: loader)
        var request = InvertRequest(images: [root.appendingPathComponent("faces/Jeremy_Irvine/00000004.jpg").path,
                                             root.appendingPathComponent("faces/Julia_Stiles/grey.png").path])
        request.models = Demo.models
        request.projector.steps = 2
        request.projector.meanLatentSamples = 200
        request.align = AlignOptions()
        let result = try Jobs.invert(request, models: loader)
        #expect(result.report.images.count == 1 && result.report.images[0].alignment?.face.landmarks.count == 68)
        #expect(result.report.skipped == [SkippedItem(path: request.images[1], reason: "no face found")])
    }
}
