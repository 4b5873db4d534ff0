// The voicestyle library: one import for the engine, checkpoints, models and pipeline stages.
@_exported import VoiceStyleEngine
@_exported import VoiceStyleCheckpoints
@_exported import VoiceStyleHub
@_exported import VoiceStyleImaging
@_exported import VoiceStyleAudio
@_exported import VoiceStyleModels
@_exported import VoiceStyleInversion
@_exported import VoiceStyleIndex
@_exported import VoiceStyleFaces
@_exported import VoiceStyleEvaluation
@_exported import VoiceStylePipeline
