// Follows audio-visual/cmpc2 fv_wrapper.py (`voice_subnet` / `face_subnet`) with cmpc2's voice front-end and
// visual_preprocess(256): the pipeline's two encoder stages, each the one place its input becomes a CMPC vector.
import Foundation
import VoiceStyleAudio
import VoiceStyleEngine
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleModels

/// Voice → CMPC embedding: the audio file read, voice-activity trimmed and turned into log-mel features (cmpc2's
/// front-end), then the voice ResNet. Output [1, D] as upstream (not normalised); `unit` gives the unit vector.
public struct VoiceEncoder {
    public let model: CMPCModel
    public var frontEnd = VoiceFrontEnd()
    public init(_ model: CMPCModel) { self.model = model }

    /// The features [1, 64, T] of an audio file.
    public func features(_ path: String) throws -> Tensor<Float> {
        try frontEnd.features(try Waveform.read(URL(fileURLWithPath: path)), file: path)
    }

    /// The embedding [N, D] of features [1, 64, T] or [N, 1, 64, T].
    public func embed(features x: Tensor<Float>) -> Tensor<Float> {
        withoutGradients { model.voice(x.rank == 3 ? x.reshaped([1] + x.shape) : x) }
    }

    /// The embedding [1, D] of an audio file.
    public func embed(_ path: String) throws -> Tensor<Float> { embed(features: try features(path)) }
}

/// Face → CMPC embedding: the image resized as cmpc2's visual_preprocess(256) (bicubic, (x − 127.5) / 127.5), then
/// the face ResNet. The index stores its unit vectors (`PrototypeFaceEncoder`).
public struct FaceEncoder: PrototypeFaceEncoder {
    public let model: CMPCModel
    public let checkpointSHA256: String
    public init(_ model: CMPCModel, checkpointSHA256: String = "") { self.model = model; self.checkpointSHA256 = checkpointSHA256 }

    public var dimension: Int { model.face.embeddingSize }
    public var preprocessing: String { "cmpc2 visual_preprocess(256): bicubic resize, (x - 127.5) / 127.5" }

    /// The network input [1, 3, 256, 256] of an image.
    public static func input(_ image: RGBImage) -> Tensor<Float> { FacePreprocessing.cmpc(image).reshaped([1, 3, 256, 256]) }

    /// The embedding [N, D] (not normalised, as upstream) of inputs [N, 3, 256, 256] in [-1, 1].
    public func embed(input x: Tensor<Float>) -> Tensor<Float> { withoutGradients { model.face(x) } }

    /// The unit embedding of an image (what an index stores).
    public func embed(_ face: RGBImage) -> [Float] { embed(input: Self.input(face)).l2Normalized(axis: 1, eps: 1e-12).scalars }
}
