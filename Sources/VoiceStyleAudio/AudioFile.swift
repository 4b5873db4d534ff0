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
    case invalid(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): "cannot read the audio file \(f): \(r)"
        case let .empty(f): "\(f) holds no audio samples"
        case let .noSpeech(f): "no speech detected in \(f)"
        case let .resampling(f, r): "cannot resample \(f) to 16 kHz: \(r)"
        case let .invalid(f, r): "the audio file \(f) \(r)"
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

    /// Sample rates accepted (Hz): telephone 4 kHz up to 384 kHz studio audio.
    public static let rates = 4_000...384_000
    /// Longest clip accepted, in seconds (a voice needs seconds; longer input is almost surely a mistake).
    public static let maxSeconds = 600.0
    /// Shortest clip accepted, in seconds (one 25 ms analysis window of speech is not a voice).
    public static let minSeconds = 0.1

    /// Reads any format libsndfile supports. 16 kHz mono 16-bit PCM is taken bit for bit; anything else is
    /// mixed to mono (channel mean), resampled with soxr (high quality) and rounded to 16-bit units.
    /// Refused before decoding: rates outside `rates`, more than 64 channels, clips longer than `maxSeconds`
    /// or shorter than `minSeconds`; after decoding: NaN or infinite samples.
    public static func read(_ url: URL) throws -> Waveform {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
            throw AudioError.unreadable(file: url.path, reason: isDir.boolValue ? "it is a folder" : "no such file")
        }
        var info = SF_INFO()
        guard let file = sf_open(url.path, Int32(SFM_READ), &info) else {
            let why = String(cString: sf_strerror(nil))
            throw AudioError.unreadable(file: url.path, reason: why.contains("SF_INFO") || why.contains("nrecognised") || why.contains("nrecognized")
                                        ? "not an audio format libsndfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, …)" : why)
        }
        defer { sf_close(file) }
        let frames = Int(info.frames), channels = Int(info.channels), rate = Int(info.samplerate)
        guard frames > 0, channels > 0 else { throw AudioError.empty(file: url.path) }
        guard rates.contains(rate) else {
            throw AudioError.invalid(file: url.path, reason: "declares a sample rate of \(rate) Hz; accepted are \(rates.lowerBound)–\(rates.upperBound) Hz")
        }
        guard channels <= 64 else { throw AudioError.invalid(file: url.path, reason: "declares \(channels) channels; at most 64 are accepted") }
        let seconds = Double(frames) / Double(rate)
        guard seconds <= maxSeconds else {
            throw AudioError.invalid(file: url.path, reason: String(format: "lasts %.0f s; at most %.0f s are accepted (cut the clip)", seconds, maxSeconds))
        }
        guard seconds >= minSeconds else {
            throw AudioError.invalid(file: url.path, reason: String(format: "lasts %.3f s; at least %.1f s of speech are needed", seconds, minSeconds))
        }
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
        guard interleaved.prefix(n * channels).allSatisfy(\.isFinite) else {
            throw AudioError.invalid(file: url.path, reason: "holds NaN or infinite samples (a damaged float recording)")
        }
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
