// PNG reading and writing through libpng's simplified API (png_image_*), as PLATFORM.md recommends.
import CPNG
import Foundation

/// An 8-bit RGB image in row-major HWC order.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// width·height·3 bytes, rows top to bottom, pixels R, G, B.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for a \(width)×\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) { self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3)) }
}

/// Why an image could not be read or written.
/// The largest image decoded (pixels): bounds the memory a crafted "decompression bomb" header can ask for
/// (Pillow's default limit is 89.5 megapixels; this is 100).
public let maxImagePixels = 100_000_000

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): "cannot read the image \(f): \(r)"
        case let .unwritable(f, r): "cannot write the image \(f): \(r)"
        }
    }
}

public enum PNGCodec {
    /// Encodes an RGB image as PNG bytes.
    public static func encode(_ image: RGBImage, fast: Bool = true) throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        if fast { png.flags = UInt32(PNG_IMAGE_FLAG_FAST) }
        var size = 0
        let ok1 = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard ok1 != 0, size > 0 else { throw ImageError.unwritable(file: "<memory>", reason: message(&png)) }
        var out = Data(count: size)
        let ok2 = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok2 != 0 else { throw ImageError.unwritable(file: "<memory>", reason: message(&png)) }
        return out.prefix(size)
    }

    /// Writes an RGB image to a PNG file (atomically).
    public static func write(_ image: RGBImage, to url: URL) throws {
        let data = try encode(image)
        do { try data.writeOutput(to: url) } catch {
            throw ImageError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }

    /// Decodes PNG bytes (any colour type and bit depth) to 8-bit RGB; alpha is composited on black,
    /// grey is expanded, 16-bit is reduced.
    public static func decode(_ data: Data, file: String = "<memory>") throws -> RGBImage {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(&png, $0.baseAddress, $0.count) }
        guard ok != 0 else { throw ImageError.unreadable(file: file, reason: message(&png)) }
        defer { png_image_free(&png) }
        png.format = UInt32(PNG_FORMAT_RGB)
        let w = Int(png.width), h = Int(png.height)
        guard w > 0, h > 0, w * h <= maxImagePixels else {
            throw ImageError.unreadable(file: file, reason: "its size \(w)×\(h) is over the limit of \(maxImagePixels / 1_000_000) megapixels")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        var black = png_color(red: 0, green: 0, blue: 0)
        let done = data.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { png_image_finish_read(&png, &black, $0.baseAddress, 0, nil) }
        }
        guard done != 0 else { throw ImageError.unreadable(file: file, reason: message(&png)) }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// Reads a PNG file.
    public static func read(_ url: URL) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ImageError.unreadable(file: url.path, reason: "no such file or not readable")
        }
        return try decode(data, file: url.path)
    }

    private static func message(_ png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
