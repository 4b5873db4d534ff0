// voicestyle command-line tool: guess the face of an unseen person from their voice.
import ArgumentParser
import Foundation
import VoiceStyle

struct VoiceStyleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voicestyle",
        abstract: "Guess the face of an unseen person from their voice (a native voicestyle pipeline).",
        discussion: """
            Start with `voicestyle demo` (runs everything on bundled samples: a trained face generator, untrained encoders).
            Checkpoints are the upstream files, read directly (`voicestyle models fetch`, checkpoints/README.md).
            Subcommands print their own help: voicestyle help SUBCOMMAND. Benchmarks: voicestyle-bench.
            """,
        version: voiceStyleVersion,
        subcommands: [DemoCommand.self, InferCommand.self, IndexCommand.self, SearchCommand.self, InvertCommand.self, GenerateCommand.self, ServeCommand.self,
                      FeaturesCommand.self, EmbedCommand.self, AlignCommand.self, EvalCommand.self, ModelsCommand.self, DoctorCommand.self, CheckpointCommand.self, JobsCommand.self])
}

/// Runs the command line: usage errors print the usage and exit 64; errors of the work itself print one plain
/// sentence (`commandLineMessage`) on its own line on standard error and exit 1.
func runCommandLine() -> Never {
    // Ctrl-C and kill end the process at once, also where the parent ignored them: outputs are written through
    // temporary names and renamed at the end, index builds commit per batch, so nothing partial is left.
    signal(SIGINT) { _ in _exit(130) }
    signal(SIGTERM) { _ in _exit(143) }
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    var command: ParsableCommand
    do { command = try VoiceStyleCommand.parseAsRoot() } catch { VoiceStyleCommand.exit(withError: error) }
    do {
        try command.run()
        VoiceStyleCommand.exit()
    } catch let e where e is ValidationError || e is ExitCode || e is CleanExit || VoiceStyleCommand.exitCode(for: e).isSuccess {
        // ArgumentParser's own outcomes, including `--help` and `help SUBCOMMAND`, which it delivers by throwing
        // from the returned help command's run().
        VoiceStyleCommand.exit(withError: e)
    } catch {
        // On a terminal a progress bar may be open on the current line: start a fresh one.
        FileHandle.standardError.write(Data("\(isatty(STDERR_FILENO) == 1 ? "\n" : "")error: \(commandLineMessage(error))\n".utf8))
        Foundation.exit(1)
    }
}

restartWithBLASThreadTimeout()
runCommandLine()
