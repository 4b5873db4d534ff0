// Audio input for the voice front-end. Upstream (cmpc2 vad.py `read_wave`) accepts only mono 16-bit WAV at
// 8/16/32 kHz; here any file libsndfile reads is mixed to mono and resampled to 16 kHz (soxr), and 16 kHz
// mono 16-bit PCM reaches the features untouched.
import CSndFile
import CSoxr
import Foundation

/// Why audio could not be used.
public enum AudioError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case noSpeech(file: String)
    case resampling(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): "cannot read the audio file \(f): \(r)"
        case let .empty(f): "\(f) holds no audio samples"
        case let .noSpeech(f): "no speech detected in \(f)"
        case let .resampling(f, r): "cannot resample \(f) to 16 kHz: \(r)"
        }
    }
}

/// Mono 16 kHz speech in 16-bit integer units (what cmpc2's front-end computes on).
public struct Waveform: Sendable {
    public var samples: [Int16]
    /// The file's own rate and channel count before conversion.
    public var sourceRate: Int
    public var sourceChannels: Int
    public static let rate = 16_000

    public init(samples: [Int16], sourceRate: Int = 16_000, sourceChannels: Int = 1) {
        self.samples = samples
        self.sourceRate = sourceRate
        self.sourceChannels = sourceChannels
    }

    /// Reads any format libsndfile supports. 16 kHz mono 16-bit PCM is taken bit for bit; anything else is
    /// mixed to mono (channel mean), resampled with soxr (high quality) and rounded to 16-bit units.
    public static func read(_ url: URL) throws -> Waveform {
        var info = SF_INFO()
        guard let file = sf_open(url.path, Int32(SFM_READ), &info) else {
            throw AudioError.unreadable(file: url.path, reason: String(cString: sf_strerror(nil)))
        }
        defer { sf_close(file) }
        let frames = Int(info.frames), channels = Int(info.channels), rate = Int(info.samplerate)
        guard frames > 0, channels > 0, rate > 0 else { throw AudioError.empty(file: url.path) }
        guard frames < 1 << 31 else { throw AudioError.unreadable(file: url.path, reason: "absurd length \(frames)") }
        let subtype = info.format & Int32(SF_FORMAT_SUBMASK)
        if channels == 1 && rate == rate16k && subtype == Int32(SF_FORMAT_PCM_16) {
            var samples = [Int16](repeating: 0, count: frames)
            let n = Int(samples.withUnsafeMutableBufferPointer { sf_readf_short(file, $0.baseAddress, sf_count_t(frames)) })
            try checkRead(file, read: n, expected: frames, path: url.path)
            return Waveform(samples: Array(samples.prefix(n)), sourceRate: rate, sourceChannels: channels)
        }
        var interleaved = [Float](repeating: 0, count: frames * channels)
        let n = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(frames)) })
        try checkRead(file, read: n, expected: frames, path: url.path)
        var mono = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var acc: Float = 0
            for c in 0..<channels { acc += interleaved[i * channels + c] }
            mono[i] = acc / Float(channels)
        }
        if rate != rate16k { mono = try resample(mono, from: rate, file: url.path) }
        let samples = mono.map { Int16(clamping: Int(($0 * 32768).rounded())) }
        return Waveform(samples: samples, sourceRate: rate, sourceChannels: channels)
    }

    static let rate16k = 16_000

    /// A read that decoded nothing, or stopped early on a decoding error, means a damaged file.
    private static func checkRead(_ file: OpaquePointer, read n: Int, expected: Int, path: String) throws {
        if n <= 0 { throw AudioError.unreadable(file: path, reason: "no samples could be decoded (damaged or truncated file)") }
        if n < expected && sf_error(file) != Int32(SF_ERR_NO_ERROR) {
            throw AudioError.unreadable(file: path, reason: "decoding stopped after \(n) of \(expected) frames: \(String(cString: sf_strerror(file)))")
        }
    }

    /// soxr high-quality conversion to 16 kHz.
    static func resample(_ x: [Float], from rate: Int, file: String) throws -> [Float] {
        let outCount = Int((Double(x.count) * Double(rate16k) / Double(rate)).rounded(.up)) + 16
        var out = [Float](repeating: 0, count: outCount)
        var done = 0
        var spec = soxr_quality_spec(UInt(SOXR_HQ), 0)
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        let err = x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                soxr_oneshot(Double(rate), Double(rate16k), 1, src.baseAddress, x.count, nil, dst.baseAddress, outCount, &done, &io, &spec, nil)
            }
        }
        if let err { throw AudioError.resampling(file: file, reason: String(cString: err)) }
        return Array(out.prefix(done))
    }
}
