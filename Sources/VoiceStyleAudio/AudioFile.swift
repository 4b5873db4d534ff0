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

    /// Most samples (frames × channels) decoded from one file: 600 s of 192 kHz stereo or of 48 kHz 8-channel
    /// audio fit; a header declaring more is refused before anything is decoded, and reading stops there.
    public static let maxDecodedSamples = 1 << 28
    /// Interleaved samples decoded, mixed to mono and resampled at a time (4 MiB of floats).
    static let chunkSamples = 1 << 20

    /// What a sound file's header declares, checked: a rate in `rates`, 1–64 channels and a length within
    /// `minSeconds`…`maxSeconds` (or the caller's own `maxSeconds`); `read` also refuses more than `maxDecodedSamples`.
    public struct Header: Sendable, Equatable {
        public var frames: Int, channels: Int, rate: Int
        public var seconds: Double { Double(frames) / Double(rate) }
    }

    /// The checked header of a sound file, read without decoding any audio.
    public static func header(_ url: URL, maxSeconds: Double = Waveform.maxSeconds) throws -> Header {
        try open(url, maxSeconds: maxSeconds, decoding: false) { _, header, _ in header }
    }

    /// Reads any format libsndfile supports. 16 kHz mono 16-bit PCM is taken bit for bit; anything else is
    /// mixed to mono (channel mean), resampled with soxr (high quality) and rounded to 16-bit units, a chunk at a
    /// time, so that memory grows with the 16 kHz result only.
    /// Refused before decoding (`header`): rates outside `rates`, more than 64 channels, clips longer than
    /// `maxSeconds` or shorter than `minSeconds`, more than `maxDecodedSamples` samples; while decoding: NaN or
    /// infinite samples, more audio than the header declared.
    public static func read(_ url: URL, maxSeconds: Double = Waveform.maxSeconds) throws -> Waveform {
        try open(url, maxSeconds: maxSeconds, decoding: true) { file, header, subtype in
            let (frames, channels, rate) = (header.frames, header.channels, header.rate)
            if channels == 1 && rate == rate16k && subtype == Int32(SF_FORMAT_PCM_16) {
                var samples = [Int16](repeating: 0, count: frames)
                let n = Int(samples.withUnsafeMutableBufferPointer { sf_readf_short(file, $0.baseAddress, sf_count_t(frames)) })
                try checkRead(file, read: n, expected: frames, path: url.path)
                return Waveform(samples: Array(samples.prefix(n)), sourceRate: rate, sourceChannels: channels)
            }
            let resampler = rate == rate16k ? nil : try Resampler(from: rate, file: url.path)
            let chunkFrames = max(1, chunkSamples / channels)
            var interleaved = [Float](repeating: 0, count: chunkFrames * channels), mono = [Float](repeating: 0, count: chunkFrames)
            var samples: [Int16] = []
            samples.reserveCapacity(Int(header.seconds * Double(rate16k)) + 64)
            func append(_ x: ArraySlice<Float>) { samples += x.map { Int16(clamping: Int(($0 * 32768).rounded())) } }
            var total = 0
            while true {
                let n = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(chunkFrames)) })
                guard n > 0 else { break }
                total += n
                guard total <= frames else {
                    throw AudioError.invalid(file: url.path, reason: "holds more audio than its header declares (\(frames) frames); it is damaged")
                }
                guard interleaved.prefix(n * channels).allSatisfy(\.isFinite) else {
                    throw AudioError.invalid(file: url.path, reason: "holds NaN or infinite samples (a damaged float recording)")
                }
                for i in 0..<n {
                    var acc: Float = 0
                    for c in 0..<channels { acc += interleaved[i * channels + c] }
                    mono[i] = acc / Float(channels)
                }
                if let resampler { append(try resampler.process(mono[..<n])[...]) } else { append(mono[..<n]) }
            }
            try checkRead(file, read: total, expected: frames, path: url.path)
            if let resampler { append(try resampler.process(nil)[...]) }
            return Waveform(samples: samples, sourceRate: rate, sourceChannels: channels)
        }
    }

    /// Opens `url` with libsndfile, checks its header and hands both to `body` (the file is closed after). MPEG
    /// files are read with standard error silenced: libmpg123 prints its own notes there, and the error that
    /// follows says what matters.
    private static func open<T>(_ url: URL, maxSeconds: Double, decoding: Bool, _ body: (OpaquePointer, Header, Int32) throws -> T) throws -> T {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
            throw AudioError.unreadable(file: url.path, reason: isDir.boolValue ? "it is a folder" : "no such file")
        }
        return try QuietStandardError.around(looksLikeMPEG(url)) { try openChecked(url, maxSeconds: maxSeconds, decoding: decoding, body) }
    }

    private static func openChecked<T>(_ url: URL, maxSeconds: Double, decoding: Bool, _ body: (OpaquePointer, Header, Int32) throws -> T) throws -> T {
        var info = SF_INFO()
        guard let file = sf_open(url.path, Int32(SFM_READ), &info) else {
            let why = String(cString: sf_strerror(nil))
            let unknown = ["SF_INFO", "nrecognised", "nrecognized", "possibly a pipe"].contains { why.contains($0) }
            throw AudioError.unreadable(file: url.path, reason: unknown ? "it is damaged, or not an audio format libsndfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, …)" : why)
        }
        defer { sf_close(file) }
        let frames = Int(info.frames), channels = Int(info.channels), rate = Int(info.samplerate)
        guard frames > 0, channels > 0 else { throw AudioError.empty(file: url.path) }
        guard rates.contains(rate) else {
            throw AudioError.invalid(file: url.path, reason: "declares a sample rate of \(rate) Hz; accepted are \(rates.lowerBound)–\(rates.upperBound) Hz")
        }
        guard channels <= 64 else { throw AudioError.invalid(file: url.path, reason: "declares \(channels) channels; at most 64 are accepted") }
        let header = Header(frames: frames, channels: channels, rate: rate)
        let limit = min(maxSeconds, Self.maxSeconds)
        guard header.seconds <= limit else {
            throw AudioError.invalid(file: url.path, reason: String(format: "lasts %.0f s; at most %.0f s are accepted (cut the clip)", header.seconds, limit))
        }
        guard header.seconds >= minSeconds else {
            throw AudioError.invalid(file: url.path, reason: String(format: "lasts %.3f s; at least %.1f s of speech are needed", header.seconds, minSeconds))
        }
        let (samples, overflow) = frames.multipliedReportingOverflow(by: channels)
        guard !decoding || (!overflow && samples <= maxDecodedSamples) else {
            let millions = Double(frames) * Double(channels) / 1e6
            throw AudioError.invalid(file: url.path, reason: String(format: "declares %.0f s of %d channels at %d Hz (%.0f million samples); at most %d million samples "
                                                                    + "are decoded from one file (mix it down to fewer channels or resample it)",
                                                                    header.seconds, channels, rate, millions, maxDecodedSamples / 1_000_000))
        }
        return try body(file, header, info.format & Int32(SF_FORMAT_SUBMASK))
    }

    static let rate16k = 16_000

    /// Whether a file starts as MPEG audio does (an ID3 tag or a frame sync).
    static func looksLikeMPEG(_ url: URL) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        let b = [UInt8]((try? handle.read(upToCount: 3)) ?? Data())
        return b.count == 3 && (b == [0x49, 0x44, 0x33] || (b[0] == 0xFF && b[1] & 0xE0 == 0xE0))
    }

    /// A read that decoded nothing, or stopped early on a decoding error, means a damaged file.
    private static func checkRead(_ file: OpaquePointer, read n: Int, expected: Int, path: String) throws {
        if n <= 0 { throw AudioError.unreadable(file: path, reason: "no samples could be decoded (damaged or truncated file)") }
        if n < expected && sf_error(file) != Int32(SF_ERR_NO_ERROR) {
            throw AudioError.unreadable(file: path, reason: "decoding stopped after \(n) of \(expected) frames: \(String(cString: sf_strerror(file)))")
        }
    }

    /// soxr high-quality conversion to 16 kHz, fed a chunk at a time.
    final class Resampler {
        private let handle: soxr_t
        private let ratio: Double
        private let file: String

        init(from rate: Int, file: String) throws {
            var spec = soxr_quality_spec(UInt(SOXR_HQ), 0)
            var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
            var error: soxr_error_t? = nil
            guard let h = soxr_create(Double(rate), Double(rate16k), 1, &error, &io, &spec, nil), error == nil else {
                throw AudioError.resampling(file: file, reason: error.map { String(cString: $0) } ?? "soxr could not start")
            }
            (handle, ratio, self.file) = (h, Double(rate16k) / Double(rate), file)
        }

        deinit { soxr_delete(handle) }

        /// The 16 kHz samples that `input` completes; nil flushes what is left at the end.
        func process(_ input: ArraySlice<Float>?) throws -> [Float] {
            var result: [Float] = []
            var out = [Float](repeating: 0, count: Int(Double(input?.count ?? 0) * ratio) + 1024)
            var consumed = 0
            let pending = input?.count ?? 0
            repeat {
                var used = 0, made = 0
                let error: soxr_error_t? = out.withUnsafeMutableBufferPointer { dst in
                    if let input {
                        return input.withUnsafeBufferPointer { src in
                            soxr_process(handle, src.baseAddress.map { $0 + consumed }, src.count - consumed, &used, dst.baseAddress, dst.count, &made)
                        }
                    }
                    return soxr_process(handle, nil, 0, nil, dst.baseAddress, dst.count, &made)
                }
                if let error { throw AudioError.resampling(file: file, reason: String(cString: error)) }
                consumed += used
                result += out.prefix(made)
                if made == 0 && consumed >= pending { break }
            } while true
            return result
        }
    }
}

/// Standard error sent to /dev/null while any caller is inside `around` (counted, so that concurrent decodes share
/// one redirection), restored when the last one leaves.
enum QuietStandardError {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var users = 0
    nonisolated(unsafe) private static var saved: Int32 = -1

    static func around<T>(_ quiet: Bool, _ body: () throws -> T) throws -> T {
        guard quiet else { return try body() }
        lock.withLock {
            users += 1
            guard users == 1 else { return }
            fflush(nil)
            saved = dup(STDERR_FILENO)
            let null = Glibc.open("/dev/null", O_WRONLY | O_CLOEXEC)
            if saved >= 0, null >= 0 { dup2(null, STDERR_FILENO) }
            if null >= 0 { close(null) }
        }
        defer {
            lock.withLock {
                users -= 1
                guard users == 0, saved >= 0 else { return }
                fflush(nil)
                dup2(saved, STDERR_FILENO)
                close(saved)
                saved = -1
            }
        }
        return try body()
    }
}
