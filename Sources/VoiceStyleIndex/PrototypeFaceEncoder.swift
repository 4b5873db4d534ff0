// No upstream counterpart (cmpc2 embeds faces inside its training loop): what an index needs of the network that
// embeds its faces. The index stores and searches vectors; the pipeline's face encoder (CMPC) supplies them.
import VoiceStyleImaging

/// Embeds one face image into the unit vector an index stores.
public protocol PrototypeFaceEncoder {
    /// Length of the vectors.
    var dimension: Int { get }
    /// SHA-256 of the checkpoint the vectors come from (an index refuses vectors of another one).
    var checkpointSHA256: String { get }
    /// How images are prepared before the network, in words (kept in the index's settings).
    var preprocessing: String { get }
    /// The L2-normalised embedding of `face` (any size; the encoder resizes it).
    func embed(_ face: RGBImage) -> [Float]
}
