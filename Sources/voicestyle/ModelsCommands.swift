// `voicestyle doctor` and `voicestyle models fetch`: argument parsing over DoctorRequest and FetchModelsRequest.
import ArgumentParser
import Foundation
import VoiceStyle

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the model files (where each is found, whether it loads) and the system libraries.",
        discussion: """
            Prints the folders model files are looked for in, in order, and where each file was found. Missing files \
            can be downloaded with `voicestyle models fetch`; `voicestyle demo` runs without any of them.
            """)

    @OptionGroup var folder: CheckpointsOption
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        let report = try DoctorRequest().run(in: JobContext(models: ModelLoader(locator: folder.locator)))
        if json { try printReport(DoctorRequest.envelope(report)) } else {
            print("model files are looked for in, in order:")
            for (n, p) in report.searchOrder.enumerated() {
                let exists = FileManager.default.fileExists(atPath: p.folder)
                print("  \(n + 1). \(p.folder)  (\(p.reason)\(exists ? "" : ", absent"))")
            }
            print("models fetch writes to \(report.downloadFolder)")
            for c in report.checks {
                print("\(c.ok ? "✓" : "✗") \(c.name): \(c.detail)\(c.ok ? c.path.map { " — \($0)" } ?? "" : "")")
            }
            if !report.engine.shapes.isEmpty {
                print("matrix-product paths measured on this CPU (ms on OpenBLAS / oneDNN):")
                for s in report.engine.shapes {
                    print("  \(s.path.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(s.shape)  "
                          + String(format: "%.3f / %@", s.blasMs, s.dnnlMs.map { String(format: "%.3f", $0) } ?? "none"))
                }
            }
        }
        if report.problems > 0 { throw ExitCode(1) }
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Get the model files.", subcommands: [ModelsFetchCommand.self])
}

struct ModelsFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download the model files (resumable; verified where sizes and hashes are known).",
        discussion: """
            Files come from where their publishers put them (`voicestyle doctor` lists them). They go to --folder, \
            else $VOICESTYLE_CHECKPOINTS, else the checkpoints/ of the clone you are in or the binary was built in, \
            else ~/.cache/voicestyle/checkpoints: every command finds them there from any folder. An interrupted \
            download resumes from its .part file; Google Drive's confirm page is answered. When a host refuses \
            (a Drive folder, a quota, a login), the message names the URL to open in a browser and where to save \
            the file. Exit status 1 when any file is missing afterwards.
            """)

    @Option(help: "Only this file (repeatable): \(ModelFile.downloadable.map(\.name).joined(separator: ", ")).")
    var only: [String] = []
    @Option(help: "Folder to download into (default: see above).", completion: .directory)
    var checkpoints: String?
    @Flag(help: "No progress display.") var quiet = false
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        var request = FetchModelsRequest()
        request.folder = checkpoints
        request.only = only.isEmpty ? nil : only
        let report = try request.run(in: JobContext(progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        if json { try printReport(FetchModelsRequest.envelope(report)) } else {
            for r in report.files {
                if let e = r.error { print("✗ \(r.name): \(e)") } else { print("✓ \(r.name): \(r.status), \(r.bytes ?? 0) bytes, sha256 \(r.sha256 ?? "?") — \(r.path)") }
            }
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}
