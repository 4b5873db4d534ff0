// voicestyle-bench: speed measurements of the engine and of the library's jobs (never timed tests).
import VoiceStyle

restartWithBLASThreadTimeout()
BenchCommand.main()
