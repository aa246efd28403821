import Foundation
import Synchronization
import RADBIndex
import RADBStore

/// The anchor router of the model generation a store snapshot shows, built once per generation.
///
/// Why it exists: a search must route with the anchors of the snapshot it scans — anchors
/// cached when the database was opened go stale as soon as another process re-anchors it, and
/// then queries are sent to partitions that mean something else now (DESIGN §7). Reading the
/// generation number from each snapshot is cheap; decoding its anchors and building a router is
/// not, so the router is rebuilt only when the number changes. Searches on several threads share
/// one cache; Sendable by construction (the cache lives in a `Mutex`).
final class GenerationRouters: Sendable {
    /// A generation's number (nil: the store has no anchors) and its router.
    struct Routing: Sendable {
        let generation: UInt64?
        let router: AnchorRouter
        /// Identity of the generation's learned model ("" = the database's own model).
        var head: String = ""
    }

    private let cached = Mutex<Routing?>(nil)
    let dimension: Int

    init(dimension: Int) { self.dimension = dimension }

    /// The routing of `snapshot`'s generation (one anchor at the origin when it has none).
    /// - Throws: `StoreError.invalidAnchors` when the snapshot's anchors are damaged.
    func routing(for snapshot: StoreSnapshot) throws -> Routing {
        let number = try snapshot.generationNumber
        if let hit = cached.withLock({ $0 }), hit.generation == number { return hit } // a generation's anchors never change
        let routing: Routing
        if let g = try snapshot.generation {
            routing = Routing(generation: g.number, router: try AnchorRouter(anchors: g.anchors, dimension: g.dimension), head: g.head)
        } else {
            routing = Routing(generation: nil, router: try AnchorRouter(anchors: [Float](repeating: 0, count: dimension), dimension: dimension))
        }
        cached.withLock { $0 = routing }
        return routing
    }
}
