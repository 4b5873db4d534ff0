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

restartWithBLASThreadTimeout()
VoiceStyleCommand.main()
