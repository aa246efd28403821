/// Keeps the `k` smallest `(distance, id)` pairs seen so far, in O(log k) per accepted item.
///
/// It exists because ranking n candidates to return k ≪ n only needs a bounded max-heap, not a
/// sort. Ties are broken by id ascending, the same total order as `SearchHit.precedes`.
public struct TopKSelector: Sendable {
    public private(set) var k: Int
    private var heap: [SearchHit] = []

    /// Creates a selector for the `k` best items; throws `IndexError.invalidK` when k < 1.
    public init(k: Int) throws {
        guard k >= 1 else { throw IndexError.invalidK(k) }
        self.k = k
        heap.reserveCapacity(k)
    }

    /// For callers that have already checked k ≥ 1.
    init(validatedK k: Int) {
        self.k = k
        heap.reserveCapacity(k)
    }

    /// Empties the selector for a new search of the `k` best, keeping its storage (no allocation when
    /// k is not larger than before). For callers that have already checked k ≥ 1.
    mutating func reset(validatedK k: Int) {
        self.k = k
        heap.removeAll(keepingCapacity: true)
        heap.reserveCapacity(k)
    }

    /// Number of items currently kept (≤ k).
    public var count: Int { heap.count }

    /// The worst kept item once `k` items are kept; anything not preceding it is rejected.
    public var worst: SearchHit? { heap.count == k ? heap[0] : nil }

    /// Offers one item; returns whether it was kept.
    @discardableResult
    public mutating func insert(_ hit: SearchHit) -> Bool {
        if heap.count < k {
            heap.append(hit)
            siftUp(heap.count - 1)
            return true
        }
        guard SearchHit.precedes(hit, heap[0]) else { return false }
        heap[0] = hit
        siftDown(0)
        return true
    }

    /// The kept items in ranking order (distance, then id).
    public func sorted() -> [SearchHit] { heap.sorted(by: SearchHit.precedes) }

    // MARK: - Heap maintenance (max-heap under `precedes`)

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard SearchHit.precedes(heap[parent], heap[child]) else { return }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let n = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= n { return }
            var largest = left
            let right = left + 1
            if right < n && SearchHit.precedes(heap[left], heap[right]) { largest = right }
            guard SearchHit.precedes(heap[parent], heap[largest]) else { return }
            heap.swapAt(parent, largest)
            parent = largest
        }
    }
}
