import RADBNeural
import RADBVision

/// How a model wants its pictures: the shorter side resized, a centre crop, scaled and offset —
/// all read from the model record.
///
/// Why it exists: ingest, queries, `embed`, training and evaluation must feed the network exactly
/// the same pixels, or vectors stop being comparable. Each of them takes its preprocessing from
/// here, and this takes it from the model file, so they cannot disagree.
public struct ImagePreprocessing: Sendable, Equatable {
    /// Side of the square network input.
    public let inputSize: Int
    /// The shorter side is resized to this before the centre crop (≥ `inputSize`).
    public let resizeShorterSide: Int
    /// Pixel value v (0…255) enters the network as v · scale + offset, on every channel.
    public let scale: Float
    public let offset: Float

    public init(record: ModelRecord) {
        inputSize = record.inputSize
        resizeShorterSide = record.resizeShorterSide
        scale = record.inputScale
        offset = record.inputOffset
    }

    /// Floats of one network input (inputSize² × 3, HWC).
    public var inputCount: Int { inputSize * inputSize * 3 }

    /// The smallest picture worth decoding: JPEGs decode at a reduced DCT scale down to it.
    public var decodeHint: ImageSize { ImageSize(width: resizeShorterSide, height: resizeShorterSide) }

    /// Writes `image` as one network input into `buffer` (`inputCount` floats).
    public func write(_ image: Image, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        // Cuts anything longer than 32:1 about its centre before resizing, so a 65535×1 picture
        // never becomes a 14-megapixel-wide row (fuzzing found it); other pictures are unchanged.
        let prepared = image.resizedShorterSideCenterCropped(side: resizeShorterSide, crop: inputSize, threads: 1)
        try prepared.normalized(into: buffer, scale: [scale, scale, scale], offset: [offset, offset, offset])
    }
}
