// MARK: - Compositing (contact sheets)

extension Image {
    /// Copies `other` into this picture with its top-left corner at (`x`, `y`); the parts that
    /// fall outside are clipped, so any position is valid.
    public mutating func paste(_ other: Image, x: Int, y: Int) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + other.width), y1 = min(height, y + other.height)
        guard x0 < x1, y0 < y1 else { return }
        let rowBytes = (x1 - x0) * 3
        let dstWidth = width
        other.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for row in y0..<y1 {
                    let s = src.baseAddress! + ((row - y) * other.width + (x0 - x)) * 3
                    let d = dst.baseAddress! + (row * dstWidth + x0) * 3
                    d.update(from: s, count: rowBytes)
                }
            }
        }
    }

    /// Paints the rectangle at (`x`, `y`) of `width`×`height` with `color`, clipped to the picture.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + max(0, w)), y1 = min(height, y + max(0, h))
        guard x0 < x1, y0 < y1 else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { dst in
            for row in y0..<y1 {
                var i = (row * stride + x0) * 3
                for _ in x0..<x1 {
                    dst[i] = color.red; dst[i + 1] = color.green; dst[i + 2] = color.blue
                    i += 3
                }
            }
        }
    }
}
