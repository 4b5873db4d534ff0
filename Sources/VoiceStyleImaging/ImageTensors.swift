// Follows rosinality/stylegan2-pytorch projector.py `make_image` (tensor → uint8) and torchvision's
// `make_grid` (contact sheets), for generator outputs.
import VoiceStyleEngine

public enum ImageTensors {
    /// upstream `make_image`: clamp to [-1, 1], (x + 1)/2·255, truncate to uint8; one image per batch item
    /// of an NCHW tensor with 3 channels.
    public static func images(_ t: Tensor<Float>) -> [RGBImage] {
        precondition(t.rank == 4 && t.shape[1] == 3, "make_image needs [B, 3, H, W], got \(t.shape)")
        let (b, h, w) = (t.shape[0], t.shape[2], t.shape[3])
        let p = t.storage.pointer
        return (0..<b).map { n in
            var pixels = [UInt8](repeating: 0, count: h * w * 3)
            for c in 0..<3 {
                let plane = p + (n * 3 + c) * h * w
                for i in 0..<(h * w) {
                    let v = (min(max(plane[i], -1), 1) + 1) / 2 * 255
                    pixels[i * 3 + c] = v.isNaN ? 0 : UInt8(v)  // truncation, as .to(torch.uint8); NaN is black, never a trap
                }
            }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    /// Images side by side in a grid (`columns` per row, `padding` pixels of `background` between and
    /// around them, as torchvision's make_grid). All images must share one size.
    public static func grid(_ images: [RGBImage], columns: Int? = nil, padding: Int = 2, background: UInt8 = 0) -> RGBImage {
        captionedGrid(images, captions: Array(repeating: [], count: images.count), columns: columns, padding: padding, background: background)
    }
}
