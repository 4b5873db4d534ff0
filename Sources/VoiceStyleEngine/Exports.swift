// The engine's modules re-exported to everything built on it: `VoiceStyleFiles` (how outputs are written), which
// lives in its own module so that it keeps Swift's checks (the engine itself builds with -Ounchecked).
@_exported import VoiceStyleFiles
