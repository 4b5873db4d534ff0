// Follows voicestyle generation/facial_recognition/__init__.py `IDLoss` (StyleCLIP criteria/id_loss.py with
// a 256-px pre-pool): IR-SE50 embeddings of the face crop, loss = mean(1 − ⟨f(ŷ), f(y)⟩).
import VoiceStyleEngine
import VoiceStyleModels

/// The identity loss of the projector.
public final class IdentityLoss {
    public let network: IRSE50

    public init(network: IRSE50) { self.network = network }

    /// `extract_feats`: AdaptiveAvgPool2d(256) unless already 256 px, crop rows 35..<223 and columns 32..<220
    /// (188×188), AdaptiveAvgPool2d(112), IR-SE50. Input [N, 3, H, W] in [-1, 1]; output [N, E] unit vectors.
    public func features(_ x: Tensor<Float>) -> Tensor<Float> {
        var h = x
        if h.shape[2] != 256 || h.shape[3] != 256 { h = h.adaptiveAvgPool2d(outHeight: 256, outWidth: 256) }
        h = h.crop(top: 35, left: 32, height: 188, width: 188).adaptiveAvgPool2d(outHeight: 112, outWidth: 112)
        return network(h)
    }

    /// (1/N) Σᵢ (1 − ⟨f(ŷᵢ), yᵢ⟩) for target features `targetFeatures` [N, E] (treated as constants). Returns [1].
    public func callAsFunction(_ generated: Tensor<Float>, targetFeatures: Tensor<Float>) -> Tensor<Float> {
        let f = features(generated)
        precondition(f.shape == targetFeatures.shape, "identity loss: \(f.shape) features vs target \(targetFeatures.shape)")
        return (1 - (f * targetFeatures.detachedView()).sum(axes: [1])).mean().reshaped([1])
    }
}
