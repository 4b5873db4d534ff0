// `voicestyle-bench align`: photos/s of detection + landmarks + FFHQ alignment, per stage, beside pSp's Python
// (scripts/bench_align_psp.py: dlib's Python binding, Pillow, NumPy, SciPy) on the same photos.
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchAlignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Time face detection, 68 landmarks and FFHQ alignment (256 and 1024) per stage; --python runs pSp's recipe beside it.",
        discussion: "Photos default to ../shared/fixtures/align (38 photos, 36 faces). One pass over all photos; totals per stage.")

    @Option(help: "Folder of photos.", completion: .directory)
    var photos: String = "../shared/fixtures/align"
    @Flag(help: "Also run scripts/bench_align_psp.py ($VOICESTYLE_PYTHON or python3, with numpy, scipy, Pillow, dlib; `pip install dlib-bin`) and print ratios.")
    var python = false
    @Flag(help: "Skip the 1024 (4096-transform) setting.")
    var no1024 = false
    @Flag(help: "Print the figures as JSON instead of a table.")
    var json = false

    func run() throws {
        let files = FileTree.files(under: URL(fileURLWithPath: photos)).map(\.url)
            .filter { FileTree.isPhoto($0) && !$0.lastPathComponent.contains("_aligned") && !$0.lastPathComponent.contains("_ffhq") }
        guard !files.isEmpty else { throw ValidationError("--photos \(photos) holds no photos") }
        let sizes = no1024 ? [256] : [256, 1024]
        let detector = try FaceDetector.shared()
        var t: [String: Double] = ["decode": 0, "detect": 0, "landmarks": 0]
        var faces = 0
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let t0 = DispatchTime.now().uptimeNanoseconds
            defer { t[stage, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
            return try body()
        }
        for f in files {
            let image = try timed("decode") { try ImageFile.read(f) }
            let rects = try timed("detect") { try detector.detect(image) }
            guard let last = rects.last else { continue }
            let landmarks = try timed("landmarks") { try detector.landmarks(image, rect: last.rect) }
            faces += 1
            for s in sizes { _ = try timed("align\(s)") { try FFHQAlignment.align(image, landmarks: landmarks, settings: s == 1024 ? .ffhq : .psp) } }
        }
        var py: [String: Double]? = nil
        if python {
            let runner = PythonRunner()
            let script = PythonRunner.script("bench_align_psp.py")?.path ?? "scripts/bench_align_psp.py"
            let r = try runner.run([script, "--sizes", sizes.map(String.init).joined(separator: ",")] + files.map(\.path))
            guard r.status == 0, let obj = try? JSONSerialization.jsonObject(with: r.output) as? [String: Any], let s = obj["seconds"] as? [String: Double] else {
                throw ValidationError("\(script) failed under \(runner.python) (\(r.lastError)); it needs numpy, scipy, Pillow and dlib (pip install dlib-bin; VOICESTYLE_PYTHON picks the Python)")
            }
            py = s
        }
        var rows: [(String, Double, Double?)] = ["decode", "detect", "landmarks"].map { ($0, t[$0]!, py?[$0]) }
        for s in sizes { rows.append(("align \(s)", t["align\(s)"]!, py?["align\(s)"])) }
        for s in sizes {
            let stages = ["decode", "detect", "landmarks", "align\(s)"]
            rows.append(("whole, \(s) px", stages.reduce(0) { $0 + t[$1]! }, py.map { p in stages.reduce(0) { $0 + (p[$1] ?? 0) } }))
        }
        reportRatios(rows, title: "\(files.count) photos, \(faces) faces (seconds in all; ratio = voicestyle / pSp's Python)", label: "stage",
                     width: 16, json: json, extra: ["photos": files.count, "faces": faces], reference: "Python")
        if !json {
            for s in sizes {
                let whole = rows.first { $0.0 == "whole, \(s) px" }!
                print(String(format: "%d px: %.1f photos/s%@", s, Double(files.count) / whole.1,
                             whole.2.map { String(format: " (pSp's Python: %.1f photos/s)", Double(files.count) / $0) } ?? ""))
            }
        }
    }
}

struct BenchIdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Faces/s of the evaluation identity models: dlib's recogniser (with and without detection) and IR-SE50 (full-size random weights).",
        discussion: "Photos default to ../shared/data/faces/vgg_frontal (the first --count of them).")

    @Option(help: "Folder of photos (searched recursively).", completion: .directory)
    var photos: String = "../shared/data/faces/vgg_frontal"
    @Option(help: "How many photos.")
    var count: Int = 100
    @Flag(help: "Print the figures as JSON instead of a table.")
    var json = false

    func run() throws {
        let images = try FileTree.files(under: URL(fileURLWithPath: photos)).map(\.url)
            .filter(FileTree.isPhoto).prefix(count).map { try ImageFile.read($0) }
        guard !images.isEmpty else { throw ValidationError("--photos \(photos) holds no photos") }
        func rate(_ body: (RGBImage) throws -> Void) rethrows -> Double {
            try body(images[0])
            let t0 = Date()
            for i in images { try body(i) }
            return Double(images.count) / Date().timeIntervalSince(t0)
        }
        let recognizer = try FaceRecognizer.shared(), detector = try FaceDetector.shared()
        let whole = try rate { _ = try recognizer.descriptors($0, detector: detector) }
        let descriptorOnly = try rate { _ = try recognizer.descriptor($0, rect: [0, 0, $0.width - 1, $0.height - 1]) }
        let irse = IdentityLoss(network: try IRSE50.random(seed: 1))
        let irseRate = rate { img in _ = withoutGradients { irse.features(FacePreprocessing.projector(img, size: 256).reshaped([1, 3, 256, 256])) } }
        let rows: [(String, Double)] = [("dlib: detection + 5 landmarks + ResNet", whole), ("dlib: 5 landmarks + ResNet (given the face box)", descriptorOnly),
                                        ("IR-SE50 (512-d, 256 → 112 px)", irseRate)]
        if json { return printJSON(["photos": images.count, "rows": rows.map { ["model": $0.0, "faces_per_second": $0.1] }]) }
        print("\(images.count) photos of \(images[0].width)×\(images[0].height) px")
        for r in rows { print(tableRow([r.0, String(format: "%.1f faces/s", r.1)], widths: [-48, 14])) }
    }
}
