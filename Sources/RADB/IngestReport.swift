/// Settings of `Database.ingest`.
public struct IngestOptions: Sendable {
    /// Label each image with the name of the folder that contains it.
    public var labelFromFolder: Bool
    /// Images embedded and committed together; a crash loses at most the batch in flight.
    public var batchSize: Int
    /// Bytes that the decoded pictures of one batch may hold at once (`ImageDecoder.decodingCost`,
    /// read from each header before decoding). A batch whose pictures need more is decoded and
    /// embedded in smaller groups; a single file that needs more on its own is refused with a
    /// reason naming it (`ImageError.overMemoryBudget`). The default, 1 GiB, admits a 150-megapixel
    /// PNG and any JPEG up to the decoder's 200-megapixel limit (JPEGs decode at a reduced scale).
    public var decodeMemoryBudget: Int

    /// Re-learn k-means anchors at the end of the run when the collection has outgrown its
    /// partitions (see `Database.relearnAnchorsIfDue`). Class anchors are never replaced.
    public var relearnAnchors: Bool

    /// The default `decodeMemoryBudget`: 1 GiB.
    public static let defaultDecodeMemoryBudget = 1 << 30

    public init(labelFromFolder: Bool = false, batchSize: Int = 64,
                decodeMemoryBudget: Int = IngestOptions.defaultDecodeMemoryBudget, relearnAnchors: Bool = true) {
        self.labelFromFolder = labelFromFolder
        self.batchSize = max(1, batchSize)
        self.decodeMemoryBudget = max(1, decodeMemoryBudget)
        self.relearnAnchors = relearnAnchors
    }
}

/// Where an ingest is, reported after every committed batch.
public struct IngestProgress: Sendable {
    /// Files looked at so far (added + unchanged + failed).
    public var processed: Int
    /// Candidate files found under the given paths.
    public var total: Int
    public var added: Int
    public var unchanged: Int
    public var failed: Int
}

/// What an ingest did: every file is counted exactly once as added, unchanged or failed — or,
/// for a file in a folder that is not an image, listed in `skipped`.
public struct IngestReport: Sendable {
    /// A file that could not be added, and why (what is wrong and what to do).
    public struct Failure: Sendable, Equatable {
        public var path: String
        public var reason: String
    }

    public var added: Int
    /// Files whose content was already stored (same SHA-256), including duplicates within this run.
    public var unchanged: Int
    public var failed: [Failure]
    /// Files inside the given folders that were not read because they are not images (or are
    /// in a format radb does not decode), with the reason. Not counted in `failed`: a folder of
    /// photos next to their sidecar files ingests completely.
    public var skipped: [Failure] = []
    /// True when the run stopped early on request; everything reported as added is stored.
    public var cancelled: Bool
    /// Ids of the items added, in the order the files were found.
    public var addedIDs: [UInt64]
    /// How many k-means anchors the collection was re-partitioned under at the end of the run
    /// (nil when its partitions still fit it; see `Database.relearnAnchorsIfDue`).
    public var relearnedAnchors: Int? = nil
}
