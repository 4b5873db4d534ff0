// Follows audio-visual/cmpc2 cmpc2/mfcc.py (the CMU-Sphinx MFCC class of cmu-mlsp: `sig2logspec`,
// `pre_emphasis`, `frame2logspec`, `_melfb`) and `get_fbank` (normalisation and length policy).
import Foundation
import RealModule
import VoiceStyleEngine

/// Sphinx-style log-mel filterbank settings; defaults equal cmpc2's (`nfilt=64, lowerf=20, upperf=7200,
/// samprate=16000, nfft=1024, wlen=0.025, frate=100, alpha=0.97`).
public struct FilterbankConfig: Sendable, Equatable {
    public var filters = 64
    public var lowerHz = 20.0
    public var upperHz = 7200.0
    public var sampleRate = 16_000.0
    public var fftSize = 1024
    /// Window length in seconds (400 samples).
    public var windowSeconds = 0.025
    /// Frames per second (hop 160 samples).
    public var frameRate = 100.0
    /// Pre-emphasis coefficient.
    public var preEmphasis = 0.97
    public init() {}

    public var windowLength: Int { Int(windowSeconds * sampleRate) }
    public var hop: Double { sampleRate / frameRate }
}

/// The log-mel front-end in float64, as numpy computes it upstream.
public struct LogMelFilterbank: Sendable {
    public let config: FilterbankConfig
    /// Filter matrix, row = filter, column = rfft bin 0…fftSize/2 (the transpose of upstream's `filters`).
    public let filters: [[Double]]
    /// (first, last) non-zero bin of every filter.
    let support: [(Int, Int)]
    let window: [Double]
    let fft: RealFFT

    public init(config: FilterbankConfig = FilterbankConfig()) {
        self.config = config
        let bins = config.fftSize / 2 + 1
        let binWidth = config.sampleRate / Double(config.fftSize)
        func mel(_ f: Double) -> Double { 2595 * Double.log10(1 + f / 700) }
        func hz(_ m: Double) -> Double { 700 * (Double.pow(10, m / 2595) - 1) }
        let lo = mel(config.lowerHz), hi = mel(config.upperHz)
        let step = (hi - lo) / Double(config.filters + 1)
        // Edges in Hz, then FFT bins rounded half-to-even as numpy's round.
        let edges = (0..<(config.filters + 2)).map { Int((hz(lo + Double($0) * step) / binWidth).rounded(.toNearestOrEven)) }
        var f = [[Double]](repeating: [Double](repeating: 0, count: bins), count: config.filters)
        var sup: [(Int, Int)] = []
        for w in 0..<config.filters {
            let l = edges[w], c = edges[w + 1], r = edges[w + 2]
            let height = 2 / (Double(r - l) * binWidth)
            let leftSlope = height / Double(c - l), rightSlope = height / Double(c - r)
            if l + 1 < c { for k in (l + 1)..<c { f[w][k] = Double(k - l) * leftSlope } }
            f[w][c] = height
            if c + 1 < r { for k in (c + 1)..<r { f[w][k] = Double(k - r) * rightSlope } }
            sup.append((l, r))
        }
        filters = f
        support = sup
        let n = config.windowLength
        window = (0..<n).map { 0.54 - 0.46 * Double.cos(2 * .pi * Double($0) / Double(n - 1)) }
        fft = RealFFT(size: config.fftSize)
    }

    /// The raw log-mel spectrogram [T, filters] of 16-bit samples: T = ⌊len/hop + 1⌋ frames of 400 samples
    /// (short frames cyclically repeated, an empty frame all zeros), pre-emphasis with the cross-frame prior
    /// (the previous frame's sample 399), Hamming window, |rfft(1024)|², mel filters, ln(max(·, 1e-5)).
    public func logSpectrogram(_ samples: [Int16]) -> [[Double]] {
        let wlen = config.windowLength
        let count = Int(Double(samples.count) / config.hop + 1)
        var prior = 0.0
        var frame = [Double](repeating: 0, count: wlen)
        var out: [[Double]] = []
        out.reserveCapacity(count)
        for f in 0..<count {
            let start = Int((Double(f) * config.hop).rounded()), end = min(samples.count, start + wlen)
            let n = max(0, end - start)
            for i in 0..<wlen { frame[i] = n == 0 ? 0 : Double(samples[start + i % n]) }
            // Pre-emphasis with the prior, then the prior becomes this frame's last sample.
            var previous = prior
            var emphasised = [Double](repeating: 0, count: wlen)
            for i in 0..<wlen { emphasised[i] = frame[i] - config.preEmphasis * previous; previous = frame[i] }
            prior = frame[wlen - 1]
            for i in 0..<wlen { emphasised[i] *= window[i] }
            let power = fft.power(emphasised)
            var row = [Double](repeating: 0, count: config.filters)
            for (w, (l, r)) in support.enumerated() {
                var acc = 0.0
                for k in l...r { acc += power[k] * filters[w][k] }
                row[w] = Double.log(max(acc, 1e-5))
            }
            out.append(row)
        }
        return out
    }
}

/// A real FFT of a power-of-two size in float64 (iterative radix-2 on the complex sequence).
struct RealFFT: Sendable {
    let size: Int
    let cosines: [Double], sines: [Double]
    let bitReversed: [Int]

    init(size: Int) {
        precondition(size > 1 && size & (size - 1) == 0, "FFT size must be a power of two")
        self.size = size
        cosines = (0..<(size / 2)).map { Double.cos(2 * .pi * Double($0) / Double(size)) }
        sines = (0..<(size / 2)).map { -Double.sin(2 * .pi * Double($0) / Double(size)) }
        let bits = size.trailingZeroBitCount
        bitReversed = (0..<size).map { i in
            var r = 0, v = i
            for _ in 0..<bits { r = r << 1 | v & 1; v >>= 1 }
            return r
        }
    }

    /// |X[k]|² for k = 0…size/2 of `x` zero-padded to `size` (numpy: re² + im² of rfft(x, n=size)).
    func power(_ x: [Double]) -> [Double] {
        var re = [Double](repeating: 0, count: size), im = [Double](repeating: 0, count: size)
        for i in 0..<min(x.count, size) { re[bitReversed[i]] = x[i] }
        var len = 2
        while len <= size {
            let half = len / 2, stride = size / len
            var start = 0
            while start < size {
                for j in 0..<half {
                    let c = cosines[j * stride], s = sines[j * stride]
                    let a = start + j, b = a + half
                    let tr = re[b] * c - im[b] * s, ti = re[b] * s + im[b] * c
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                }
                start += len
            }
            len <<= 1
        }
        return (0...(size / 2)).map { re[$0] * re[$0] + im[$0] * im[$0] }
    }
}

/// cmpc2's `audio_preprocess`: VAD → log-mel → per-bin normalisation → cyclic repeat to ≥ 800 frames.
public struct VoiceFrontEnd: Sendable {
    public var filterbank = LogMelFilterbank()
    public var vad = VoiceActivity()
    /// Skip the VAD (use every sample).
    public var skipVAD = false
    /// Shortest output in frames (cyclic repeat below it; cmpc2: 800). Longer inputs are not cropped…
    public var minimumFrames = 800
    /// …unless a crop length is given (frames, from the start).
    public var cropFrames: Int? = nil

    public init() {}

    /// Float32 features [1, 64, T] of a waveform. Throws `AudioError.noSpeech` when the VAD keeps nothing.
    public func features(_ wave: Waveform, file: String = "<memory>") throws -> Tensor<Float> {
        let speech = skipVAD ? wave.samples : vad.speech(wave.samples)
        guard !speech.isEmpty else { throw AudioError.noSpeech(file: file) }
        return normalized(filterbank.logSpectrogram(speech))
    }

    /// Per-bin normalisation in float32 (mean and population std over time, eps 1.1920929e-07), then the
    /// length policy; output [1, bins, T].
    public func normalized(_ raw: [[Double]]) -> Tensor<Float> {
        let t0 = raw.count, bins = raw.first?.count ?? 0
        let fb = raw.map { $0.map { Float($0) } }  // astype(float32)
        var mean = [Float](repeating: 0, count: bins), std = [Float](repeating: 0, count: bins)
        for b in 0..<bins {
            var acc = 0.0
            for t in 0..<t0 { acc += Double(fb[t][b]) }
            mean[b] = Float(acc / Double(t0))
            var v = 0.0
            for t in 0..<t0 { let d = Double(fb[t][b] - mean[b]); v += d * d }
            std[b] = Float((v / Double(t0)).squareRoot())
        }
        var frames = fb.map { row in (0..<bins).map { (row[$0] - mean[$0]) / (std[$0] + 1.1920929e-07) } }
        if frames.count < minimumFrames {
            let original = frames
            while frames.count < minimumFrames { frames += original }
            frames = Array(frames.prefix(minimumFrames))
        }
        if let crop = cropFrames, frames.count > crop { frames = Array(frames.prefix(crop)) }
        let t = frames.count
        let out = Tensor<Float>(uninitializedShape: [1, bins, t])
        let p = out.storage.pointer
        for (i, row) in frames.enumerated() { for b in 0..<bins { p[b * t + i] = row[b] } }
        return out
    }
}
