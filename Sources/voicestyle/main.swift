// voicestyle command-line tool: guess the face of an unseen person from their voice.
import ArgumentParser
import Foundation
import VoiceStyle

struct VoiceStyleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voicestyle",
        abstract: "Guess the face of an unseen person from their voice (a native voicestyle pipeline).",
        discussion: """
            Start with `voicestyle demo` (runs everything on bundled samples with untrained models).
            Checkpoints are the upstream files, read directly (`voicestyle models fetch`, checkpoints/README.md).
            Subcommands print their own help: voicestyle help SUBCOMMAND. Benchmarks: voicestyle-bench.
            """,
        version: voiceStyleVersion,
        subcommands: [DemoCommand.self, InferCommand.self, IndexCommand.self, SearchCommand.self, InvertCommand.self, GenerateCommand.self,
                      FeaturesCommand.self, EmbedCommand.self, ModelsCommand.self, DoctorCommand.self, CheckpointCommand.self])
}

/// OpenBLAS worker threads spin for about 2²⁸ cycles after each product before sleeping, competing with the
/// engine's own threads between products (measured: 5–7 % of a generator pass). The setting is read once,
/// when the library loads, so set it and restart the process once, before any work.
func tuneBLASThreads() {
    guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil, getenv("VOICESTYLE_NO_REEXEC") == nil else { return }
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
    setenv("VOICESTYLE_NO_REEXEC", "1", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with the default.
}

tuneBLASThreads()
VoiceStyleCommand.main()
