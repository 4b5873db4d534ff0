// JPEG through libjpeg-turbo's TurboJPEG API (PLATFORM.md §4: safe errors), with EXIF orientation.
import CTurboJPEG
import Foundation

public enum JPEGCodec {
    /// Decodes JPEG bytes to RGB (grey by libjpeg-turbo; CMYK/YCCK as Pillow converts Adobe's inverted CMYK:
    /// R = max(0, C + K − 255) on the stored values), applying the EXIF orientation tag unless
    /// `applyOrientation` is false. Truncated files are refused as Pillow refuses them ("image file is
    /// truncated"), and so are images over `maxImagePixels`.
    public static func decode(_ data: Data, file: String = "<memory>", applyOrientation: Bool = true) throws -> RGBImage {
        guard let h = tjInitDecompress() else { throw ImageError.unreadable(file: file, reason: "TurboJPEG could not start") }
        defer { tjDestroy(h) }
        var w: Int32 = 0, ht: Int32 = 0, sub: Int32 = 0, cs: Int32 = 0
        let ok = data.withUnsafeBytes { raw -> Int32 in
            tjDecompressHeader3(h, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), &w, &ht, &sub, &cs)
        }
        guard ok == 0 else { throw ImageError.unreadable(file: file, reason: String(cString: tjGetErrorStr2(h))) }
        guard w > 0, ht > 0, Int(w) * Int(ht) <= maxImagePixels else {
            throw ImageError.unreadable(file: file, reason: "its size \(w)×\(ht) is over the limit of \(maxImagePixels / 1_000_000) megapixels")
        }
        let cmyk = cs == Int32(TJCS_CMYK.rawValue) || cs == Int32(TJCS_YCCK.rawValue)
        let channels = cmyk ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: Int(w) * Int(ht) * channels)
        let done = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBytes { dst in
                tjDecompress2(h, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), dst.bindMemory(to: UInt8.self).baseAddress,
                              w, 0, ht, Int32((cmyk ? TJPF_CMYK : TJPF_RGB).rawValue), 0)
            }
        }
        if done != 0 {
            let message = String(cString: tjGetErrorStr2(h))
            // Warnings about stray bytes still give the whole picture (Pillow accepts them); a premature end does not.
            if tjGetErrorCode(h) == Int32(TJERR_FATAL.rawValue) || message.contains("Premature end") {
                throw ImageError.unreadable(file: file, reason: message.contains("Premature end") ? "the file is truncated (\(message))" : message)
            }
        }
        if cmyk {
            let n = Int(w) * Int(ht)
            var rgb = [UInt8](repeating: 0, count: n * 3)
            for i in 0..<n {
                let k = Int(pixels[4 * i + 3])
                for c in 0..<3 { rgb[3 * i + c] = UInt8(max(0, Int(pixels[4 * i + c]) + k - 255)) }
            }
            pixels = rgb
        }
        let image = RGBImage(width: Int(w), height: Int(ht), pixels: pixels)
        return applyOrientation ? image.oriented(exifOrientation(data)) : image
    }

    /// Reads a JPEG file.
    public static func read(_ url: URL) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ImageError.unreadable(file: url.path, reason: "no such file or not readable")
        }
        return try decode(data, file: url.path)
    }

    /// Encodes RGB as JPEG (4:2:0 chroma subsampling).
    public static func encode(_ image: RGBImage, quality: Int = 92) throws -> Data {
        guard let h = tjInitCompress() else { throw ImageError.unwritable(file: "<memory>", reason: "TurboJPEG could not start") }
        defer { tjDestroy(h) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let ok = image.pixels.withUnsafeBytes { src in
            tjCompress2(h, src.bindMemory(to: UInt8.self).baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(max(1, min(100, quality))), 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard ok == 0, let buffer else { throw ImageError.unwritable(file: "<memory>", reason: String(cString: tjGetErrorStr2(h))) }
        return Data(bytes: buffer, count: Int(size))
    }

    /// The EXIF orientation (1–8) of a JPEG, 1 when absent or unreadable.
    static func exifOrientation(_ data: Data) -> Int {
        let b = [UInt8](data.prefix(1 << 17))
        guard b.count > 4, b[0] == 0xFF, b[1] == 0xD8 else { return 1 }
        var p = 2
        while p + 4 <= b.count, b[p] == 0xFF {
            let marker = b[p + 1], len = Int(b[p + 2]) << 8 | Int(b[p + 3])
            if marker == 0xDA || len < 2 { break }
            let seg = p + 4
            if marker == 0xE1, seg + 14 <= b.count, Array(b[seg..<(seg + 6)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                let t = seg + 6
                let little = b[t] == 0x49
                func u16(_ o: Int) -> Int? { o + 2 <= b.count ? (little ? Int(b[o]) | Int(b[o + 1]) << 8 : Int(b[o]) << 8 | Int(b[o + 1])) : nil }
                func u32(_ o: Int) -> Int? { guard let lo = u16(little ? o : o + 2), let hi = u16(little ? o + 2 : o) else { return nil }; return hi << 16 | lo }
                guard let ifd = u32(t + 4), let n = u16(t + ifd) else { return 1 }
                for k in 0..<min(n, 256) {
                    let e = t + ifd + 2 + 12 * k
                    if u16(e) == 0x0112, let v = u16(e + 8), (1...8).contains(v) { return v }
                }
                return 1
            }
            p += 2 + len
        }
        return 1
    }
}

extension RGBImage {
    /// The image as displayed for EXIF orientation `o` (1 = as stored; 2–8 mirror and/or rotate).
    public func oriented(_ o: Int) -> RGBImage {
        guard o >= 2 && o <= 8 else { return self }
        let transposed = o >= 5
        let (ow, oh) = transposed ? (height, width) : (width, height)
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<oh {
            for x in 0..<ow {
                // Source coordinates of output pixel (x, y) for each orientation.
                let (sx, sy): (Int, Int)
                switch o {
                case 2: (sx, sy) = (width - 1 - x, y)
                case 3: (sx, sy) = (width - 1 - x, height - 1 - y)
                case 4: (sx, sy) = (x, height - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, height - 1 - x)
                case 7: (sx, sy) = (width - 1 - y, height - 1 - x)
                default: (sx, sy) = (width - 1 - y, x)
                }
                let s = (sy * width + sx) * 3, d = (y * ow + x) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}

/// Reads JPEG or PNG by content.
public enum ImageFile {
    public static func read(_ url: URL) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ImageError.unreadable(file: url.path, reason: "no such file or not readable")
        }
        if data.starts(with: [0xFF, 0xD8]) { return try JPEGCodec.decode(data, file: url.path) }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGCodec.decode(data, file: url.path) }
        throw ImageError.unreadable(file: url.path, reason: "neither JPEG nor PNG")
    }

    /// Writes PNG or JPEG by the file extension.
    public static func write(_ image: RGBImage, to url: URL) throws {
        switch url.pathExtension.lowercased() {
        case "jpg", "jpeg":
            do { try JPEGCodec.encode(image).writeOutput(to: url) } catch let e as ImageError { throw e } catch {
                throw ImageError.unwritable(file: url.path, reason: error.localizedDescription)
            }
        default: try PNGCodec.write(image, to: url)
        }
    }
}
