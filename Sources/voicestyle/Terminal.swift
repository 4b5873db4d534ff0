// Progress display and report printing shared by the subcommands.
import Foundation
import VoiceStyle

/// Shows a job's progress events on standard error: a redrawn bar per stage on a terminal, a plain line every
/// few seconds in a log.
final class ProgressPrinter {
    private let quiet: Bool
    private let terminal = isatty(STDERR_FILENO) == 1
    private var stage = ""
    private var stageStart = Date(), lastLine = Date.distantPast
    private var first = 0

    init(quiet: Bool) { self.quiet = quiet }

    func callAsFunction(_ e: JobEvent) {
        guard !quiet else { return }
        if e.stage != stage {
            if terminal && !stage.isEmpty { FileHandle.standardError.write(Data("\n".utf8)) }
            stage = e.stage; stageStart = Date(); first = e.done
        }
        let elapsed = Date().timeIntervalSince(stageStart)
        let eta = e.done > first ? elapsed / Double(e.done - first) * Double(e.total - e.done) : .nan
        let width = 24, filled = e.total > 0 ? min(width, width * e.done / e.total) : width
        let rate = elapsed > 0 && e.done > first ? String(format: " %.1f/s", Double(e.done - first) / elapsed) : ""
        if terminal {
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\(e.stage) \(bar) \(e.done)/\(e.total)\(rate) \(e.detail)  ETA \(formatSeconds(eta))   \u{1B}[K".utf8))
            if e.done == e.total { FileHandle.standardError.write(Data("\n".utf8)); stage = "" }
        } else if Date().timeIntervalSince(lastLine) >= 5 || e.done == e.total {
            lastLine = Date()
            FileHandle.standardError.write(Data("\(e.stage): \(e.done)/\(e.total)\(rate) \(e.detail) ETA \(formatSeconds(eta))\n".utf8))
        }
    }
}

/// Writes a report as JSON on standard output.
func printReport<T: Encodable>(_ value: T) throws {
    print(String(decoding: try reportJSON(value), as: UTF8.self))
}
