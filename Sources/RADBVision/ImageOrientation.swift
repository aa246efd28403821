// MARK: - ImageOrientation

/// The EXIF orientation tag (0x0112): how the stored pixels must be turned to show the picture
/// upright. Phones store sensor-order pixels and record the rotation here instead of rotating.
///
/// Raw values follow the EXIF specification (1 = stored upright ... 8 = rotate 90° counter-clockwise
/// to display). Values 5–8 swap width and height.
public enum ImageOrientation: Int, Sendable, Hashable, CaseIterable {
    case up = 1
    case upMirrored = 2
    case down = 3
    case downMirrored = 4
    case leftMirrored = 5
    case right = 6
    case rightMirrored = 7
    case left = 8

    /// Whether the upright picture is the stored one turned by 90° (width and height swap).
    public var swapsDimensions: Bool { rawValue >= 5 }

    /// The upright size of a stored picture of `size`.
    public func uprightSize(of size: ImageSize) -> ImageSize {
        swapsDimensions ? ImageSize(width: size.height, height: size.width) : size
    }

    /// For an upright pixel (ux, uy) the stored pixel is `origin + ux * stepX + uy * stepY`,
    /// expressed in stored (column, row) coordinates. `sw`, `sh` are the stored width and height.
    func sourceMapping(storedWidth sw: Int, storedHeight sh: Int)
        -> (origin: (x: Int, y: Int), stepX: (x: Int, y: Int), stepY: (x: Int, y: Int)) {
        switch self {
        case .up:            return ((0, 0), (1, 0), (0, 1))
        case .upMirrored:    return ((sw - 1, 0), (-1, 0), (0, 1))
        case .down:          return ((sw - 1, sh - 1), (-1, 0), (0, -1))
        case .downMirrored:  return ((0, sh - 1), (1, 0), (0, -1))
        case .leftMirrored:  return ((0, 0), (0, 1), (1, 0))             // transpose
        case .right:         return ((0, sh - 1), (0, -1), (1, 0))       // rotate 90° clockwise
        case .rightMirrored: return ((sw - 1, sh - 1), (0, -1), (-1, 0)) // transverse
        case .left:          return ((sw - 1, 0), (0, 1), (-1, 0))       // rotate 90° counter-clockwise
        }
    }
}

// MARK: - Applying an orientation

extension Image {
    /// The picture a viewer shows for these stored pixels tagged with `orientation`.
    public func applyingOrientation(_ orientation: ImageOrientation) -> Image {
        if orientation == .up { return self }
        let upright = orientation.uprightSize(of: size)
        let map = orientation.sourceMapping(storedWidth: width, storedHeight: height)
        let sw = width
        // Byte offsets in the stored buffer.
        let stepX = (map.stepX.y * sw + map.stepX.x) * 3
        let stepY = (map.stepY.y * sw + map.stepY.x) * 3
        let origin = (map.origin.y * sw + map.origin.x) * 3
        return pixels.withUnsafeBufferPointer { src in
            Image(width: upright.width, height: upright.height) { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                for uy in 0..<upright.height {
                    var si = origin + uy * stepY
                    var di = uy * upright.width * 3
                    for _ in 0..<upright.width {
                        d[di] = s[si]; d[di + 1] = s[si + 1]; d[di + 2] = s[si + 2]
                        si += stepX
                        di += 3
                    }
                }
            }
        }
    }
}
