// MARK: - Resizing and cropping

extension Image {
    /// This picture resampled to `width`×`height` with an antialiasing triangle filter (Pillow's
    /// BILINEAR rule: support widened by the shrink factor). Both sizes must be positive.
    ///
    /// Large jobs split rows across all cores; pass `threads: 1` when the caller already runs
    /// one resize per core (batch pipelines) so the two levels of parallelism do not compete.
    public func resized(width: Int, height: Int, threads: Int? = nil) -> Image {
        precondition(width > 0 && height > 0, "resized(width:height:) needs positive sizes, got \(width)x\(height)")
        return Resampler.resize(self, width: width, height: height, threads: threads)
    }

    /// Resized so the shorter side becomes `side`, keeping the aspect ratio; the longer side is
    /// `Int(side * long / short)` (truncated, as torchvision's `Resize(int)` does).
    public func resizedShorterSide(to side: Int, threads: Int? = nil) -> Image {
        precondition(side > 0, "resizedShorterSide(to:) needs a positive side, got \(side)")
        if width <= height {
            return resized(width: side, height: max(1, Int(Double(side) * Double(height) / Double(width))), threads: threads)
        } else {
            return resized(width: max(1, Int(Double(side) * Double(width) / Double(height))), height: side, threads: threads)
        }
    }

    /// `resizedShorterSide(to: side)` then `centerCropped(width: crop, height: crop)` — a network
    /// input — without a huge intermediate picture for a long thin strip.
    ///
    /// A picture whose long side is more than `maxAspectRatio` times its short side is first cut
    /// to that ratio about its centre. What is cut lies outside the final crop (for
    /// `crop ≤ side × maxAspectRatio`), while resizing the whole strip would cost memory and time
    /// in proportion to its aspect ratio: a 65535×1 PNG of a few hundred bytes, within any decode
    /// budget, would become 14.7 million × 224 pixels (9.9 GB) to keep 224 columns of it
    /// (found by `Tools/fuzz.sh image`). Pictures within the ratio take the plain path, bit for bit.
    public func resizedShorterSideCenterCropped(side: Int, crop: Int, maxAspectRatio: Int = 32,
                                                threads: Int? = nil) -> Image {
        precondition(side > 0 && crop > 0 && maxAspectRatio >= 1,
                     "resizedShorterSideCenterCropped needs positive sizes, got side \(side), crop \(crop), ratio \(maxAspectRatio)")
        let short = min(width, height), long = max(width, height)
        let (keep, overflow) = short.multipliedReportingOverflow(by: maxAspectRatio)
        var source = self
        if !overflow && long > keep {
            source = width > height
                ? cropped(x: (width - keep) / 2, y: 0, width: keep, height: height)
                : cropped(x: 0, y: (height - keep) / 2, width: width, height: keep)
        }
        return source.resizedShorterSide(to: side, threads: threads).centerCropped(width: crop, height: crop)
    }

    /// The central `width`×`height` region (offsets rounded as torchvision's `CenterCrop`). Where the
    /// crop is larger than the picture, the border is filled with `padding`.
    public func centerCropped(width: Int, height: Int, padding: RGB = .black) -> Image {
        precondition(width > 0 && height > 0, "centerCropped(width:height:) needs positive sizes, got \(width)x\(height)")
        let left = Int((Double(self.width - width) / 2).rounded(.toNearestOrEven))
        let top = Int((Double(self.height - height) / 2).rounded(.toNearestOrEven))
        return cropped(x: left, y: top, width: width, height: height, padding: padding)
    }

    /// The `width`×`height` region whose top-left corner is at (`x`, `y`) in this picture; parts of
    /// the region outside the picture are filled with `padding`.
    public func cropped(x: Int, y: Int, width: Int, height: Int, padding: RGB = .black) -> Image {
        precondition(width > 0 && height > 0, "cropped needs positive sizes, got \(width)x\(height)")
        if x == 0 && y == 0 && width == self.width && height == self.height { return self }
        var out = Image(width: width, height: height, filledWith: padding)
        out.paste(self, x: -x, y: -y)
        return out
    }
}
