// Follows audio-visual/cmpc2 cmpc2/vad.py (`frame_generator`, `vad_collector`) and mfcc.py `rm_sil`, with
// the WebRTC VAD of libwebrtc-audio-processing (the same algorithm as py-webrtcvad 2.0.10).
import CWebRTCVAD

/// The speech segments of a waveform, exactly as cmpc2 collects them.
public struct VoiceActivity: Sendable {
    /// WebRTC VAD aggressiveness (cmpc2: `valid_level` = 2).
    public var mode: Int32 = 2
    /// Frame length in ms (cmpc2: 20 → 320 samples at 16 kHz).
    public var frameMilliseconds = 20
    /// Ring-buffer padding in ms (cmpc2: 50 → int(50/20) = 2 frames).
    public var paddingMilliseconds = 50

    public init() {}

    /// Indices of the kept 20-ms frames (in order) and the segments as (first, last) frame pairs.
    ///
    /// Frames are emitted while offset + frame bytes < total bytes (a trailing partial or exactly final
    /// frame is dropped, as upstream). Untriggered: each new frame joins a ring of 2 and every frame in the
    /// ring is evaluated (frames can be evaluated twice; the VAD is stateful); when all are voiced the ring
    /// starts a segment. Triggered: frames join the segment; when the ring holds only unvoiced frames the
    /// segment closes. A fresh VAD state is used per call.
    public func keptFrames(_ samples: [Int16], rate: Int = 16_000) -> (frames: [Int], segments: [(Int, Int)]) {
        let frameLength = rate * frameMilliseconds / 1000
        let ringSize = paddingMilliseconds / frameMilliseconds
        guard let vad = WebRtcVad_Create() else { return ([], []) }
        defer { WebRtcVad_Free(vad) }
        WebRtcVad_Init(vad)
        WebRtcVad_set_mode(vad, mode)
        // offset + n < len in bytes ⇔ (f + 1)·frameLength < count.
        let frameCount = samples.isEmpty ? 0 : (samples.count - 1) / frameLength
        func isSpeech(_ f: Int) -> Bool {
            samples.withUnsafeBufferPointer { WebRtcVad_Process(vad, Int32(rate), $0.baseAddress! + f * frameLength, frameLength) == 1 }
        }
        var kept: [Int] = [], segments: [(Int, Int)] = []
        var ring: [Int] = []
        var triggered = false
        var current: [Int] = []
        for f in 0..<frameCount {
            if !triggered {
                ring.append(f)
                if ring.count > ringSize { ring.removeFirst() }
                let voiced = ring.filter { isSpeech($0) }.count
                if Double(voiced) > 0.9 * Double(ringSize) {
                    triggered = true
                    current = ring
                    ring.removeAll()
                }
            } else {
                current.append(f)
                ring.append(f)
                if ring.count > ringSize { ring.removeFirst() }
                let unvoiced = ring.filter { !isSpeech($0) }.count
                if Double(unvoiced) > 0.9 * Double(ringSize) {
                    triggered = false
                    kept += current
                    segments.append((current.first!, current.last!))
                    current.removeAll()
                    ring.removeAll()
                }
            }
        }
        if !current.isEmpty {
            kept += current
            segments.append((current.first!, current.last!))
        }
        return (kept, segments)
    }

    /// The concatenated speech samples (cmpc2 `rm_sil`).
    public func speech(_ samples: [Int16], rate: Int = 16_000) -> [Int16] {
        let frameLength = rate * frameMilliseconds / 1000
        var out: [Int16] = []
        for f in keptFrames(samples, rate: rate).frames { out += samples[(f * frameLength)..<((f + 1) * frameLength)] }
        return out
    }
}
