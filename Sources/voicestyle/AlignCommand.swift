// `voicestyle align` (AlignRequest) and the `--align` options of `index build` and `invert`.
import ArgumentParser
import Foundation
import VoiceStyle

extension FaceChoice: ExpressibleByArgument {}

struct AlignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Find the faces in photos and align them the FFHQ way (dlib detector + 68 landmarks, pSp's align_face).",
        discussion: """
            StyleGAN2 (FFHQ) inverts only faces aligned like its training images; ordinary photos need this step. \
            Per face it writes NAME.png (NAME_2.png … for more faces with --face all; folders keep their tree) and, \
            for the run, alignment.json: per photo its detections (score, rectangle, 68 landmarks), the chosen \
            face, the quad and every stage's values, or why nothing was written. Photos without a face or that \
            cannot be read are listed and skipped; the exit status is still 0. --preview also writes \
            NAME_preview.png (what was found, beside the aligned face). The landmark model (Debian libdlib-data) \
            was trained on iBUG 300-W, whose licence excludes commercial use.
            """)

    @Argument(help: "Photos (JPEG or PNG) or folders of photos.", completion: .file())
    var inputs: [String]
    @Option(help: "Output folder.", completion: .directory)
    var out: String
    @OptionGroup var alignment: AlignmentOptions
    @Flag(help: "Also write NAME_preview.png: rectangles, landmarks and quad on the photo beside the aligned face.")
    var preview = false
    @Flag(help: "No progress display.") var quiet = false
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        var request = AlignRequest(inputs: inputs, out: out)
        request.options = alignment.options
        request.preview = preview
        try request.validate()
        let report = try request.run(in: JobContext(progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        if json { return try printReport(AlignRequest.envelope(report)) }
        for s in report.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        let photos = report.photos.count
        print("aligned \(report.faces) face(s) from \(photos - report.skipped.count) of \(photos) photo(s) into \(out) (alignment.json) in \(formatSeconds(report.seconds))")
    }
}

/// The alignment settings (`align`; with --align, `index build` and `invert`).
struct AlignmentOptions: ParsableArguments {
    @Option(help: "Aligned size: 256 (pSp: 256 transform) or 1024 (FFHQ: 4096 transform).")
    var size: Int = 256
    @Option(help: "Which face of a photo with several: largest, last (pSp's choice) or all.")
    var face: FaceChoice = .largest
    @Option(help: "Times dlib doubles the photo before detecting (pSp: 1; 0 finds only faces of 80 px and more).")
    var upsample: Int = 1
    @Option(help: "dlib's 68-point landmark model.", completion: .file())
    var landmarks: String = FaceDetector.defaultLandmarkModel

    var options: AlignOptions { AlignOptions(size: size, face: face, upsample: upsample, landmarkModel: landmarks) }
}

/// `--align` for the jobs that read face photos (`index build`, `invert`).
struct AlignFlag: ParsableArguments {
    @Flag(help: "FFHQ-align each photo first (dlib landmarks, pSp's align_face; see `voicestyle align`). Off by default, as upstream, whose crops are pre-aligned.")
    var align = false
    @Option(help: "With --align: aligned size, 256 (pSp) or 1024 (FFHQ).")
    var alignSize: Int = 256
    @Option(help: "With --align: which face of a photo with several (largest, last, all; an index keeps one: all acts as largest).")
    var alignFace: FaceChoice = .largest

    var options: AlignOptions? { align ? AlignOptions(size: alignSize, face: alignFace) : nil }
}
