// Follows cmpc2's feature extraction (cmpc2/utils.py `get_fbank`, VAD collector) and the encoders' forward passes
// (fv_wrapper.py; voicestyle facial_recognition `extract_feats`) as jobs: voice features, CMPC and IR-SE50 embeddings.
import Foundation
import VoiceStyleAudio
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleInversion
import VoiceStyleModels

/// `features`: cmpc2's voice features of an audio file, (1, 64, T).
public struct FeaturesRequest: Codable, Sendable, Equatable {
    public var voice: String
    /// Use every sample (skip the voice-activity detection).
    public var skipVAD = false
    /// Keep at most this many frames (from the start).
    public var crop: Int?
    public init(voice: String) { self.voice = voice }
}

/// `embed`: CMPC voice or face embeddings, or IR-SE50 identity embeddings of faces.
public struct EmbedRequest: Codable, Sendable, Equatable {
    public enum Model: String, Codable, Sendable { case cmpc, identity }
    public var model: Model
    /// The checkpoint of `model`.
    public var checkpoint: String
    /// An audio file, a voice-features .npy ((1, 64, T) or (N, 1, 64, T)), or a face image / .npy network input.
    public var voice: String?
    public var voiceFeatures: String?
    public var face: String?
    public init(model: Model, checkpoint: String) { self.model = model; self.checkpoint = checkpoint }

    public func validate() throws {
        try Check.file(model == .cmpc ? "cmpc" : "identity", checkpoint)
        let given = [("voice", voice), ("voiceFeatures", voiceFeatures), ("face", face)].compactMap { n, p in p.map { (n, $0) } }
        guard given.count == 1 else { throw JobError("give exactly one of {voice}, {voiceFeatures} and {face}") }
        if model == .identity && face == nil { throw JobError(field: "identity", "embeds faces: give {face}") }
        try Check.file(given[0].0, given[0].1)
    }
}

extension Jobs {
    /// The voice features of `request.voice`.
    public static func features(_ request: FeaturesRequest) throws -> Tensor<Float> {
        try Check.file("voice", request.voice)
        var frontEnd = VoiceFrontEnd()
        frontEnd.skipVAD = request.skipVAD
        frontEnd.cropFrames = request.crop
        return try frontEnd.features(try Waveform.read(URL(fileURLWithPath: request.voice)), file: request.voice)
    }

    /// Embeddings, one row per input: CMPC unnormalised (as upstream), IR-SE50 unit vectors. An image file is
    /// preprocessed as upstream does for that model (CMPC: bicubic resize to 256; IR-SE50: the projector
    /// transform to 256, then the identity-loss pre-pool, crop and pool to 112); a face .npy is a ready input
    /// (N, 3, H, W) in [-1, 1] (for IR-SE50, 112×112 goes straight to the backbone).
    public static func embed(_ request: EmbedRequest, models: ModelLoader = ModelLoader()) throws -> Tensor<Float> {
        try request.validate()
        func faceInput(_ path: String, prepare: (RGBImage) -> Tensor<Float>) throws -> Tensor<Float> {
            if path.lowercased().hasSuffix(".npy") {
                let t = try NumPyFile.readNpy(URL(fileURLWithPath: path)).tensor(Float.self)
                guard t.rank == 4, t.shape[1] == 3, t.shape[0] >= 1 else { throw JobError("\(path) has shape \(t.shape); a face .npy is (N, 3, H, W) in [-1, 1]") }
                return t
            }
            let t = prepare(try ImageFile.read(URL(fileURLWithPath: path)))
            return t.reshaped([1] + t.shape)
        }
        // The networks come through the loader, like every job's (a registered name works too).
        if request.model == .identity {
            let identity = try models.identity(request.checkpoint).0
            let x = try faceInput(request.face ?? "") { FacePreprocessing.projector($0, size: 256) }
            return withoutGradients { x.shape[2] == 112 && x.shape[3] == 112 ? identity.network(x) : identity.features(x) }
        }
        let encoders = try models.encoders(request.checkpoint)
        if let face = request.face {
            return encoders.face.embed(input: try faceInput(face) { FacePreprocessing.cmpc($0) })
        }
        var x = try request.voice.map { try features(FeaturesRequest(voice: $0)) }
            ?? NumPyFile.readNpy(URL(fileURLWithPath: request.voiceFeatures ?? "")).tensor(Float.self)
        if x.rank == 3 { x = x.reshaped([1] + x.shape) }
        guard x.rank == 4, x.shape[1] == 1, x.shape[2] == 64, x.shape[0] >= 1, x.shape[3] >= 1 else {
            throw JobError("voice features of shape \(x.shape): expected (1, 64, T) or (N, 1, 64, T)")
        }
        return encoders.voice.embed(features: x)
    }
}
