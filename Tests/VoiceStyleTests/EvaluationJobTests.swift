// `eval faces` with dlib's recogniser on the real VGG set (issue: rank-1 ≥ 97 %, verification AUC ≥ 0.99), and
// `eval inversion` end to end on an `invert` folder made with the demo models.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

@Suite("Evaluation jobs", .serialized)
struct EvaluationJobTests {
    @Test("eval faces: dlib's recogniser on the 11-identity VGG set")
    func dlibOnVGG() throws {
        guard let faces = Fixtures.sharedFixture("../data/faces/vgg_frontal") else { return }
        guard FileManager.default.fileExists(atPath: FaceRecognizer.defaultModel) else {
            print("dlib recogniser model absent (scripts/setup fetches it): test skipped")
            return
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("vs-evalfaces-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        var request = EvalFacesRequest(faces: faces.path)
        request.out = out.path
        let r = try Jobs.evalFaces(request, models: ModelLoader())
        print(String(format: "eval faces, dlib on vgg_frontal: %d faces, %d identities, %d without detection, rank-1 %.2f %%, AUC %.4f, EER %.2f %%, %.1f faces/s",
                     r.faces, r.identities, r.noFaceDetected, 100 * r.rank1, r.auc, 100 * r.eer, r.facesPerSecond))
        #expect(r.identities == 11 && r.faces > 1200)
        #expect(r.rank1 >= 0.97)
        #expect(r.auc >= 0.99)
        for f in ["results.md", "roc.svg", "roc.png"] { #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path)) }
        #expect(try decodeReport(EvalFacesReport.self, from: Data(contentsOf: out.appendingPathComponent("report.json"))) == r)
    }

    @Test("eval inversion: every reconstruction of an invert folder scored; a bad folder is one plain sentence")
    func inversion() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-evalinv-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let loader = ModelLoader()
        try Demo.register(in: loader)
        let photos = try ["Jeremy_Irvine/00000004.jpg", "Julia_Stiles/00000001.jpg"].map { try Demo.data.appendingPathComponent("faces/\($0)").path }
        var invert = InvertRequest(images: photos)
        invert.models = Demo.models
        invert.projector.steps = 2
        invert.projector.meanLatentSamples = 200
        try Jobs.invert(invert, models: loader).write(to: root.appendingPathComponent("inverted"))
        var request = EvalInversionRequest(folder: root.appendingPathComponent("inverted").path)
        request.identityModel = .irse50
        request.irse50 = Demo.models.identity
        request.vgg = Demo.models.vgg
        request.out = root.appendingPathComponent("eval").path
        let r = try Jobs.evalInversion(request, models: loader)
        #expect(r.images.count == 2 && r.skipped.isEmpty)
        for q in r.images { #expect(q.psnr.isFinite && q.mse > 0 && q.lpips != nil && abs(q.identityCosine) <= 1.000001) }
        #expect(r.model.contains("WARNING"))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("eval/results.md").path))
        #expect(throws: JobError.self) { try Jobs.evalInversion(EvalInversionRequest(folder: root.path), models: loader) }
    }
}

/// Demo models, an index of three identities' bundled faces, and their folder of true faces.
private func demoSetting() throws -> (ModelLoader, URL, String) {
    let loader = ModelLoader()
    try Demo.register(in: loader)
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-evalgen-\(UUID().uuidString)")
    for id in ["Freida_Pinto", "Garrett_Hedlund", "Julia_Stiles"] {
        try FileManager.default.createDirectory(at: root.appendingPathComponent("faces"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try Demo.data.appendingPathComponent("faces/\(id)"), to: root.appendingPathComponent("faces/\(id)"))
    }
    var build = BuildIndexRequest(index: root.appendingPathComponent("index").path, faces: root.appendingPathComponent("faces").path)
    build.cmpc = Demo.models.cmpc
    _ = try Jobs.buildIndex(build, models: loader)
    return (loader, root, build.index)
}

@Suite("Evaluation protocols", .serialized)
struct EvaluationProtocolTests {
    @Test("--help and help SUBCOMMAND print the help and exit 0")
    func help() throws {
        let cwd = FileManager.default.temporaryDirectory
        for args in [["--help"], ["eval", "faces", "--help"], ["help", "align"], ["infer", "--help"]] {
            let r = try runTool(args, in: cwd)
            #expect(r.status == 0 && r.stdout.contains("USAGE:") && r.stderr.isEmpty, "\(args): \(r.stderr)")
        }
    }

    @Test("bad eval inputs: one plain sentence and exit 1, before any work")
    func badInputs() throws {
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("vs-evalbad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cwd) }
        let missing = cwd.appendingPathComponent("missing").path
        for (args, says) in [(["eval", "faces", missing], "\(missing) is not a folder"),
                             (["eval", "generation", "--manifest", missing + ".csv", "--true-faces", cwd.path, "--out", cwd.appendingPathComponent("x").path],
                              "--manifest \(missing).csv does not exist"),
                             (["eval", "association"], "give --voices and --faces, or a CMPC verification list with --pairs"),
                             (["eval", "inversion", cwd.path], "holds no report.json")] {
            let r = try runTool(args, in: cwd)
            #expect(r.status == 1 && !r.signaled && r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }

    @Test("eval generation: faces inferred for a 3-identity manifest, figures in range, resumable")
    func generation() throws {
        let (loader, root, index) = try demoSetting()
        defer { try? FileManager.default.removeItem(at: root) }
        let voices = try Demo.voices
        let manifest = "identity,voice,gender\n" + ["Freida_Pinto", "Garrett_Hedlund", "Julia_Stiles"].enumerated()
            .map { "\($1),\(voices[$0 % voices.count].path),\($0 == 1 ? "m" : "f")" }.joined(separator: "\n") + "\n"
        try Data(manifest.utf8).write(to: root.appendingPathComponent("manifest.csv"))
        var infer = InferRequest(voice: "", index: index)
        infer.models = Demo.models
        infer.config.k = 2
        infer.config.refinement.steps = 1
        infer.config.meanLatentSamples = 200
        infer.config.inversion.projector.steps = 2
        infer.config.inversion.projector.meanLatentSamples = 200
        var request = EvalGenerationRequest(manifest: root.appendingPathComponent("manifest.csv").path, trueFaces: root.appendingPathComponent("faces").path,
                                            out: root.appendingPathComponent("eval").path)
        request.infer = infer
        request.identityModel = .irse50
        request.irse50 = Demo.models.identity
        let first = try Jobs.evalGeneration(request, models: loader)
        #expect(first.inferred == 3 && first.identities.count == 3 && first.among == 3)
        #expect(first.identities.allSatisfy { $0.generated == 1 && $0.trueFaces == 4 && abs($0.cosine) <= 1.000001 && $0.l1 > 0 && $0.l2 > 0 })
        #expect(first.recallAtK["1"].map { (0...1).contains($0) } == true && first.recallAtK["5"] == 1)
        #expect(first.matchingSameGender && first.matching12.map { (0...1).contains($0) } == true)
        #expect(first.warning != nil)
        // Interrupted after two faces: the rerun infers only the missing one and gives the same figures.
        let generated = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("eval/generated").path).sorted()
        #expect(generated.count == 3)
        try FileManager.default.removeItem(at: root.appendingPathComponent("eval/generated/\(generated[2])"))
        let second = try Jobs.evalGeneration(request, models: loader)
        #expect(second.inferred == 1 && second.cosine == first.cosine && second.recallAtK == first.recallAtK)
        for f in ["results.md", "recall_at_k.svg", "recall_at_k.png"] { #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("eval/\(f)").path)) }
        // A manifest without the needed columns is one plain sentence.
        try Data("name,clip\na,b\n".utf8).write(to: root.appendingPathComponent("bad.csv"))
        request.manifest = root.appendingPathComponent("bad.csv").path
        #expect(throws: JobError.self) { try Jobs.evalGeneration(request, models: loader) }
    }

    @Test("eval association: CMPC verification, 1:2 matching and mAP on labelled voices and faces")
    func association() throws {
        let (loader, root, _) = try demoSetting()
        defer { try? FileManager.default.removeItem(at: root) }
        let voices = try Demo.voices
        let list = "path,identity\n\(voices[0].path),Freida_Pinto\n\(voices[voices.count - 1].path),Julia_Stiles\n"
        try Data(list.utf8).write(to: root.appendingPathComponent("voices.csv"))
        var request = EvalAssociationRequest(voices: root.appendingPathComponent("voices.csv").path, faces: root.appendingPathComponent("faces").path)
        request.cmpc = Demo.models.cmpc
        request.trials = 10
        request.out = root.appendingPathComponent("eval").path
        let r = try Jobs.evalAssociation(request, models: loader)
        #expect(r.voices == 2 && r.faces == 12 && r.identities == 3)
        let roc = try #require(r.verification)
        #expect((0...1).contains(roc.auc) && (0...1).contains(roc.eer) && roc.fpr.first == 0 && roc.tpr.last == 1)
        for m in [r.matchingVoiceToFace, r.mapVoiceToFace, r.mapFaceToVoice] { #expect(m.map { (0...1).contains($0) } == true) }
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("eval/roc.png").path))
        let again = try Jobs.evalAssociation(request, models: loader)
        #expect(again.verification == r.verification && again.matchingVoiceToFace == r.matchingVoiceToFace)

        // A CMPC verification list (no header) names the pairs, the files and their identities.
        let cmpcList = """
            1,Freida_Pinto,Freida_Pinto,1,\(voices[0].path),faces/Freida_Pinto/00000002.jpg
            2,Freida_Pinto,Julia_Stiles,0,\(voices[0].path),faces/Julia_Stiles/00000001.jpg
            3,Julia_Stiles,Julia_Stiles,1,\(voices[voices.count - 1].path),faces/Julia_Stiles/00000010.jpg
            4,Julia_Stiles,Freida_Pinto,0,\(voices[voices.count - 1].path),faces/Freida_Pinto/00000006.jpg

            """
        try Data(cmpcList.utf8).write(to: root.appendingPathComponent("veriflist_test.txt"))
        var listed = EvalAssociationRequest(voices: nil, faces: nil)
        listed.cmpc = Demo.models.cmpc
        listed.pairs = root.appendingPathComponent("veriflist_test.txt").path
        let l = try Jobs.evalAssociation(listed, models: loader)
        #expect(l.voices == 2 && l.faces == 4 && l.identities == 2 && l.skipped.isEmpty)
        #expect(l.verification?.fpr.last == 1 && l.verification?.tpr.last == 1)
        #expect(throws: JobError.self) { try Jobs.evalAssociation(EvalAssociationRequest(voices: nil, faces: nil), models: loader) }
    }
}
