// `voicestyle features` (FeaturesRequest) and `voicestyle embed` (EmbedRequest): the voice front-end and the CMPC / IR-SE50 encoders.
import ArgumentParser
import Foundation
import VoiceStyle

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Compute cmpc2's voice features of an audio file: (1, 64, T) float32 .npy.",
        discussion: """
            Any format libsndfile reads (WAV, FLAC, OGG/Vorbis, …), mixed to mono and resampled to 16 kHz; then \
            WebRTC VAD (mode 2), the Sphinx 64-band log-mel filterbank, per-bin normalisation and cyclic repeat to \
            at least 800 frames (longer clips are kept whole unless --crop).
            """)

    @Argument(help: "Audio file.", completion: .file())
    var voice: String

    @Option(help: "Output .npy file.", completion: .file(extensions: ["npy"]))
    var out: String

    @Flag(help: "Use every sample (skip the voice-activity detection).")
    var noVAD = false

    @Option(help: "Keep at most this many frames (from the start).")
    var crop: Int?

    func run() throws {
        var request = FeaturesRequest(voice: voice)
        (request.skipVAD, request.crop) = (noVAD, crop)
        let t = try request.run(in: JobContext()).tensor
        try NumPyFile.npyData(StoredTensor(t)).writeOutput(to: URL(fileURLWithPath: out))
        print("wrote \(out): shape \(t.shape)")
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed voices or faces with CMPC, or faces with IR-SE50 (ArcFace identity).",
        discussion: """
            --cmpc CKPT with --voice FILE (audio), --voice-features F.npy ((1,64,T) or (N,1,64,T)) or --face \
            IMAGE|F.npy; or --identity model_ir_se50.pth with --face. A .npy face is a ready network input (N,3,H,W) \
            in [-1,1], used as is (for --identity, 112×112 goes straight to the backbone, any other size through \
            the identity-loss preprocessing: pool to 256, crop, pool to 112). An image file is preprocessed as \
            upstream does for that model (CMPC: bicubic resize to 256; IR-SE50: the projector transform to 256, \
            then the identity-loss preprocessing). Output: float32 .npy, one row per input (CMPC embeddings are \
            unnormalised, as upstream; IR-SE50 embeddings are unit vectors).
            """)

    @Option(help: "CMPC checkpoint (model_best_256.pth.tar).", completion: .file())
    var cmpc: String?

    @Option(help: "IR-SE50 checkpoint (model_ir_se50.pth).", completion: .file())
    var identity: String?

    @Option(help: "Audio file to embed with the CMPC voice encoder.", completion: .file())
    var voice: String?

    @Option(help: "Voice features .npy to embed with the CMPC voice encoder.", completion: .file(extensions: ["npy"]))
    var voiceFeatures: String?

    @Option(help: "Face image (JPEG/PNG) or .npy network input.", completion: .file())
    var face: String?

    @Option(help: "Output .npy file.", completion: .file(extensions: ["npy"]))
    var out: String

    func validate() throws {
        guard (cmpc == nil) != (identity == nil) else { throw ValidationError("give exactly one of --cmpc and --identity") }
    }

    func run() throws {
        var request = cmpc.map { EmbedRequest(model: .cmpc, checkpoint: $0) } ?? EmbedRequest(model: .identity, checkpoint: identity ?? "")
        (request.voice, request.voiceFeatures, request.face) = (voice, voiceFeatures, face)
        let embedding = try request.run(in: JobContext()).tensor
        try NumPyFile.npyData(StoredTensor(embedding)).writeOutput(to: URL(fileURLWithPath: out))
        print("wrote \(out): shape \(embedding.shape)")
    }
}
