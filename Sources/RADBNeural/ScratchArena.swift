import Foundation
import RADBCore

/// Preallocated activation buffers for one inference worker: three ping-pong buffers of
/// `bufferCount` floats (block input / expansion+projection / depthwise output) and one im2col
/// scratch per row-parallel lane. Reused across calls so steady-state inference allocates nothing.
/// `@unchecked Sendable`: an arena is owned by one forward pass at a time (`ArenaPool` hands it
/// out and takes it back); within a pass each lane writes only its own scratch buffer.
package final class ScratchArena: @unchecked Sendable {
    let bufferCount: Int
    let scratchCount: Int
    let lanes: Int
    let buffers: [UnsafeMutablePointer<Float>]
    let scratch: [UnsafeMutablePointer<Float>]

    init(bufferCount: Int, scratchCount: Int, lanes: Int) {
        self.bufferCount = bufferCount
        self.scratchCount = max(1, scratchCount)
        self.lanes = lanes
        buffers = (0..<3).map { _ in .allocate(capacity: max(1, bufferCount)) }
        scratch = (0..<lanes).map { _ in .allocate(capacity: max(1, scratchCount)) }
    }

    deinit {
        buffers.forEach { $0.deallocate() }
        scratch.forEach { $0.deallocate() }
    }

    func fits(bufferCount b: Int, scratchCount s: Int, lanes l: Int) -> Bool {
        b <= bufferCount && s <= scratchCount && l <= lanes
    }
}

/// A lock-protected free list of arenas, so concurrent `forward` calls never share buffers.
/// `@unchecked Sendable`: the free list is read and written only under `lock`.
package final class ArenaPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [ScratchArena] = []

    func take(bufferCount: Int, scratchCount: Int, lanes: Int) -> ScratchArena {
        lock.lock()
        defer { lock.unlock() }
        if let i = free.firstIndex(where: { $0.fits(bufferCount: bufferCount, scratchCount: scratchCount, lanes: lanes) }) {
            return free.remove(at: i)
        }
        return ScratchArena(bufferCount: bufferCount, scratchCount: scratchCount, lanes: lanes)
    }

    func give(_ arena: ScratchArena) {
        lock.lock()
        if free.count < 4 { free.append(arena) }
        lock.unlock()
    }
}

/// Runs `body(range, lane)` over `lanes` contiguous slices of 0..<total, concurrently when
/// `lanes > 1`, inline otherwise. Callers keep `Parallel.forEachDisjoint`'s contract: a call
/// writes only its own slice's outputs and its own lane's scratch.
@inline(__always)
func parallelSlices(_ total: Int, lanes: Int, _ body: (Range<Int>, Int) -> Void) {
    if lanes <= 1 || total < 2 * lanes {
        body(0..<total, 0)
        return
    }
    Parallel.forEachDisjoint(lanes) { i in
        let lo = total * i / lanes, hi = total * (i + 1) / lanes
        if lo < hi { body(lo..<hi, i) }
    }
}

/// Output rows per GEMM in inference (`MobileNet.forward`). A constant, so that the matrix shapes
/// BLAS sees for an image depend only on the image size: never on the batch, the neighbours or the
/// lane count. 128 rows keep a tile's input and output of the widest 1×1 layers in L2.
package let inferenceTileRows = 128

/// Runs `body(tile, lane)` once for each tile `[t·tile, min((t+1)·tile, total))` of 0..<total,
/// the tiles shared out as contiguous runs over `lanes` concurrent lanes (inline when one lane).
/// Each call covers exactly one tile, so what one call computes never depends on `lanes`.
@inline(__always)
func parallelTiles(_ total: Int, tile: Int, lanes: Int, _ body: (Range<Int>, Int) -> Void) {
    let count = (total + tile - 1) / tile
    let used = min(lanes, count)
    if used <= 1 {
        for t in 0..<count { body(t * tile..<min(total, (t + 1) * tile), 0) }
        return
    }
    Parallel.forEachDisjoint(used) { lane in
        for t in (count * lane / used)..<(count * (lane + 1) / used) {
            body(t * tile..<min(total, (t + 1) * tile), lane)
        }
    }
}
