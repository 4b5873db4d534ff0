// `voicestyle features` and `voicestyle embed`: the voice front-end and the CMPC / IR-SE50 encoders.
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
        var frontEnd = VoiceFrontEnd()
        frontEnd.skipVAD = noVAD
        frontEnd.cropFrames = crop
        let wave = try Waveform.read(URL(fileURLWithPath: voice))
        let t = try frontEnd.features(wave, file: voice)
        try NumPyFile.writeNpy(StoredTensor(t), to: URL(fileURLWithPath: out))
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
        let inputs = [voice, voiceFeatures, face].compactMap { $0 }.count
        guard inputs == 1 else { throw ValidationError("give exactly one of --voice, --voice-features and --face") }
        if identity != nil && face == nil { throw ValidationError("--identity embeds faces: give --face") }
    }

    /// A face input: a ready .npy batch, or an image preprocessed by `prepare`.
    private func faceInput(_ path: String, prepare: (RGBImage) -> Tensor<Float>) throws -> (tensor: Tensor<Float>, raw: Bool) {
        if path.lowercased().hasSuffix(".npy") {
            let t = try NumPyFile.readNpy(URL(fileURLWithPath: path)).tensor(Float.self)
            guard t.rank == 4, t.shape[1] == 3 else { throw ValidationError("\(path) has shape \(t.shape); a face .npy is (N, 3, H, W) in [-1, 1]") }
            return (t, true)
        }
        let img = try ImageFile.read(URL(fileURLWithPath: path))
        let t = prepare(img)
        return (t.reshaped([1] + t.shape), false)
    }

    func run() throws {
        let embedding: Tensor<Float>
        if let identity {
            let net = try IRSE50(stateDict: StateDict(Checkpoint.open(URL(fileURLWithPath: identity))))
            let (x, _) = try faceInput(face!) { FacePreprocessing.projector($0, size: 256) }
            embedding = withoutGradients {
                x.shape[2] == 112 && x.shape[3] == 112 ? net(x) : IdentityLoss(network: net).features(x)
            }
        } else {
            let model = try CMPCModel(stateDict: StateDict(Checkpoint.open(URL(fileURLWithPath: cmpc!)), path: "model"))
            if let face {
                let (x, _) = try faceInput(face) { FacePreprocessing.cmpc($0) }
                embedding = withoutGradients { model.face(x) }
            } else {
                var x: Tensor<Float>
                if let voice {
                    x = try VoiceFrontEnd().features(try Waveform.read(URL(fileURLWithPath: voice)), file: voice)
                } else {
                    x = try NumPyFile.readNpy(URL(fileURLWithPath: voiceFeatures!)).tensor(Float.self)
                }
                if x.rank == 3 { x = x.reshaped([1] + x.shape) }
                guard x.rank == 4, x.shape[1] == 1, x.shape[2] == 64 else {
                    throw ValidationError("voice features of shape \(x.shape): expected (1, 64, T) or (N, 1, 64, T)")
                }
                embedding = withoutGradients { model.voice(x) }
            }
        }
        try NumPyFile.writeNpy(StoredTensor(embedding), to: URL(fileURLWithPath: out))
        print("wrote \(out): shape \(embedding.shape)")
    }
}
