import Dispatch
import Foundation
import CBLAS
import RADBCore

/// How RADBIndex spreads work over cores.
///
/// The engine either runs its loops on the calling thread and lets OpenBLAS thread each BLAS call
/// (`.serial`), or splits the work itself over `n` threads with `DispatchQueue.concurrentPerform`
/// and calls BLAS from each (`.workers(n)`). The two must not be combined: with `.workers(n > 1)`
/// keep OpenBLAS at one thread (`openblas_set_num_threads(1)`, or RADBNeural's `BLASThreads.set(1)`), otherwise each worker's GEMM spawns its own
/// threads and the cores are oversubscribed. radb's search measures faster with `.workers` (see
/// BENCHMARKS.md), because scoring a partition is a memory-bound GEMV/small GEMM that OpenBLAS
/// threads poorly.
public enum Parallelism: Sendable, Equatable {
    /// Everything on the calling thread (BLAS calls use however many threads OpenBLAS is set to).
    case serial
    /// Split over this many threads (clamped to ≥ 1).
    case workers(Int)

    /// One worker per active processor.
    public static var automatic: Parallelism { .workers(ProcessInfo.processInfo.activeProcessorCount) }

    /// Number of threads this setting runs on.
    public var workerCount: Int {
        switch self {
        case .serial: return 1
        case .workers(let n): return max(1, n)
        }
    }

    /// Runs `body(worker)` for `worker` in `0..<count` — in parallel when count > 1. Callers
    /// keep `Parallel.forEachDisjoint`'s contract: each worker writes only its own heaps and rows.
    func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            body(0)
        } else {
            Parallel.forEachDisjoint(count, body)
        }
    }
}

/// Splits `costs` over `workers` bins, largest first into the least-loaded bin (LPT scheduling);
/// deterministic for given inputs. Returns the task indices of each bin.
func balancedAssignment(costs: [Int], workers: Int) -> [[Int]] {
    var bins = [[Int]](repeating: [], count: workers)
    guard workers > 1 else { return [Array(costs.indices)] }
    var load = [Int](repeating: 0, count: workers)
    let order = costs.indices.sorted { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }
    for task in order {
        var best = 0
        for w in 1..<workers where load[w] < load[best] { best = w }
        bins[best].append(task)
        load[best] += costs[task]
    }
    return bins
}
