// voicestyle command-line tool: guess the face of an unseen person from their voice.
import ArgumentParser
import Foundation
import VoiceStyle

struct VoiceStyleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voicestyle",
        abstract: "Guess the face of an unseen person from their voice (a native voicestyle pipeline).",
        discussion: """
            Checkpoints are the upstream files, read directly (see checkpoints/README.md).
            Subcommands print their own help: voicestyle help SUBCOMMAND.
            """,
        version: voiceStyleVersion,
        subcommands: [CheckpointCommand.self, BenchCommand.self])
}

VoiceStyleCommand.main()
