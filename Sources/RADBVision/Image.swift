// MARK: - Image

/// A decoded picture in the one layout the rest of radb works with: 8-bit RGB, interleaved,
/// rows top to bottom with no padding (`pixels.count == width * height * 3`).
///
/// Every decoder converts to this layout (greyscale expanded, alpha composited over white,
/// CMYK converted, EXIF orientation applied), so later stages never branch on the source format.
/// It is a value type and `Sendable`, so decoded images can cross threads freely.
///
/// ```swift
/// let image = try ImageDecoder.decode(contentsOf: url)
/// let thumb = image.resizedShorterSide(to: 256).centerCropped(width: 224, height: 224)
/// ```
public struct Image: Sendable, Hashable {
    /// Width in pixels (> 0).
    public let width: Int
    /// Height in pixels (> 0).
    public let height: Int
    /// `width * height * 3` bytes: R, G, B for each pixel, row-major from the top-left corner.
    public internal(set) var pixels: [UInt8]

    /// Wraps existing interleaved RGB bytes; returns nil when the sizes disagree or are not positive.
    public init?(width: Int, height: Int, pixels: [UInt8]) {
        guard width > 0, height > 0, width.multipliedReportingOverflow(by: height).overflow == false,
              pixels.count == width * height * 3 else { return nil }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A new image with every pixel set to `color` (a canvas for contact sheets, for example).
    /// Sizes below 1 are raised to 1.
    public init(width: Int, height: Int, filledWith color: RGB = .white) {
        let w = max(1, width), h = max(1, height)
        var bytes = [UInt8](repeating: 0, count: w * h * 3)
        bytes.withUnsafeMutableBufferPointer { p in
            for i in 0..<(w * h) {
                p[3 * i] = color.red; p[3 * i + 1] = color.green; p[3 * i + 2] = color.blue
            }
        }
        self.width = w
        self.height = h
        self.pixels = bytes
    }

    /// Internal initializer for code that has already established the size invariant.
    init(uncheckedWidth width: Int, height: Int, pixels: [UInt8]) {
        assert(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Creates an image by letting `fill` write all `width * height * 3` bytes (no zeroing pass).
    init(width: Int, height: Int, fill: (UnsafeMutableBufferPointer<UInt8>) throws -> Void) rethrows {
        let count = width * height * 3
        let bytes = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try fill(buffer)
            initialized = count
        }
        self.init(uncheckedWidth: width, height: height, pixels: bytes)
    }

    /// The size as one value.
    public var size: ImageSize { ImageSize(width: width, height: height) }

    // MARK: - Pixel access

    /// The colour at column `x`, row `y` (both must be inside the image).
    public func pixel(x: Int, y: Int) -> RGB {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Sets the colour at column `x`, row `y` (both must be inside the image).
    public mutating func setPixel(x: Int, y: Int, to color: RGB) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        let i = (y * width + x) * 3
        pixels[i] = color.red; pixels[i + 1] = color.green; pixels[i + 2] = color.blue
    }
}

// MARK: - RGB

/// One 8-bit RGB colour.
public struct RGB: Sendable, Hashable, CustomStringConvertible {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red; self.green = green; self.blue = blue
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)

    /// The largest per-channel absolute difference to `other` (for tolerant comparisons).
    public func maxChannelDistance(to other: RGB) -> Int {
        max(abs(Int(red) - Int(other.red)), abs(Int(green) - Int(other.green)), abs(Int(blue) - Int(other.blue)))
    }

    public var description: String { "RGB(\(red), \(green), \(blue))" }
}

// MARK: - ImageSize

/// A width and height in pixels; used for target-size hints and header results.
public struct ImageSize: Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// `width * height`, saturating instead of overflowing (header values are untrusted).
    public var pixelCount: Int {
        let (product, overflow) = width.multipliedReportingOverflow(by: height)
        return overflow ? Int.max : product
    }

    public var description: String { "\(width)x\(height)" }
}
