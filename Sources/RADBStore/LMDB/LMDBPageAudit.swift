import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks the page structure of an LMDB data file by reading it directly, before LMDB is let
/// near it: LMDB trusts its page headers, so a page whose header is garbage makes a traversal
/// read out of bounds and crash (SIGSEGV) instead of failing.
///
/// Walks every B-tree reachable from the newer meta page — the free list, the main database
/// and each named database, including DUPSORT sub-databases — and checks each page it reaches:
/// its number matches its position, its flags name a page kind LMDB writes, its free-space
/// bounds and node offsets lie inside the page, child and overflow page numbers lie inside the
/// file, and overflow pages say so. Page layout as in LMDB's mdb.c (LMDB 0.9, 64-bit): a
/// 16-byte header `{pgno: UInt64, pad: UInt16, flags: UInt16, lower: UInt16, upper: UInt16}`
/// (`lower`/`upper` are the page count of an overflow page), then 2-byte node offsets;
/// a node is `{lo: UInt16, hi: UInt16, flags: UInt16, ksize: UInt16}`, key, data.
/// Free pages are not reachable and not checked (their old contents do not matter).
package enum LMDBPageAudit {
    private static let headerSize = 16, nodeSize = 8, dbRecordSize = 48
    private static let pBranch: UInt16 = 0x01, pLeaf: UInt16 = 0x02, pOverflow: UInt16 = 0x04, pLeaf2: UInt16 = 0x20, pSubpage: UInt16 = 0x40
    private static let fBigData: UInt16 = 0x01, fSubData: UInt16 = 0x02, fDupData: UInt16 = 0x04
    private static let invalidPage = UInt64.max
    /// Problems past this many are not listed (a file of garbage would list every page).
    private static let maximumProblems = 20

    /// The problems found in the data file at `path` (empty when its pages are sound), or
    /// one problem when the file cannot be read.
    package static func problems(dataPath path: String) -> [String] {
        audit(path).problems
    }

    /// The branch and leaf pages of each tree, in visiting order (root first), keyed by the
    /// tree's name ("database 'blocks'", …): for tests that damage chosen pages.
    package static func treePages(dataPath path: String) -> [String: [UInt64]] {
        audit(path).pagesByTree
    }

    private static func audit(_ path: String) -> Audit {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return Audit(failure: "\(path): cannot be read (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return Audit(failure: "\(path): cannot be read (\(String(cString: strerror(errno))))") }
        var audit = Audit(fd: fd, fileSize: Int(info.st_size))
        audit.run()
        return audit
    }

    private struct Audit {
        let fd: Int32
        let fileSize: Int
        var pageSize = 4096
        var lastPage: UInt64 = 0
        var problems: [String] = []
        var visited = Set<UInt64>()
        var truncated = false
        var pagesByTree: [String: [UInt64]] = [:]

        init(fd: Int32, fileSize: Int) {
            self.fd = fd
            self.fileSize = fileSize
        }

        init(failure: String) {
            self.init(fd: -1, fileSize: 0)
            problems = [failure]
        }

        mutating func report(_ message: String) {
            if problems.count < LMDBPageAudit.maximumProblems { problems.append(message) } else { truncated = true }
        }

        func read(_ offset: Int, _ count: Int) -> [UInt8]? {
            guard offset >= 0, count > 0, offset <= fileSize - count else { return nil }
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? bytes : nil
        }

        static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
        static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
        static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }

        mutating func run() {
            // Meta pages 0 and 1: magic, page size, last page, transaction id; the newer wins.
            guard let first = read(0, 160) else { return report("the file is too short to hold LMDB's meta pages") }
            let size = Int(Self.u32(first, 16 + 24))  // mm_dbs[FREE_DBI].md_pad = page size
            guard Self.u32(first, 16) == 0xBEEF_C0DE, [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].contains(size) else {
                return report("meta page 0 is damaged (bad magic or page size)")
            }
            pageSize = size
            var metas: [(txn: UInt64, main: [UInt8], free: [UInt8], last: UInt64)] = []
            for m in 0..<2 {
                guard let page = read(m * pageSize, 160) else { report("meta page \(m) cannot be read"); continue }
                guard Self.u32(page, 16) == 0xBEEF_C0DE, Self.u16(page, 10) & 0x08 != 0 else { report("meta page \(m) is damaged"); continue }
                metas.append((Self.u64(page, 16 + 128), Array(page[(16 + 72)..<(16 + 120)]), Array(page[(16 + 24)..<(16 + 72)]),
                              Self.u64(page, 16 + 120)))
            }
            guard let meta = metas.max(by: { $0.txn < $1.txn }) else { return }
            lastPage = meta.last
            guard (lastPage + 1).multipliedReportingOverflow(by: UInt64(pageSize)).partialValue <= UInt64(fileSize) else {
                return report("the meta page says the file has \(lastPage + 1) pages but it holds \(fileSize / pageSize) (truncated)")
            }
            walkDatabase(record: meta.free, name: "the free list", named: false)
            walkDatabase(record: meta.main, name: "the main database", named: true)
            if truncated { problems.append("… more damaged pages not listed") }
        }

        /// Walks the tree of an `MDB_db` record (48 bytes); `named`: its leaves are named databases.
        mutating func walkDatabase(record: [UInt8], name: String, named: Bool) {
            let root = Self.u64(record, 40)
            guard root != LMDBPageAudit.invalidPage else { return }
            let depth = Int(Self.u16(record, 6))
            guard depth <= 64 else { return report("\(name): impossible tree depth \(depth)") }
            walk(page: root, name: name, level: 1, maxDepth: max(depth, 1), named: named)
        }

        mutating func walk(page number: UInt64, name: String, level: Int, maxDepth: Int, named: Bool) {
            guard problems.count < LMDBPageAudit.maximumProblems else { truncated = true; return }
            guard number >= 2, number <= lastPage else { return report("\(name): refers to page \(number), outside the file (pages 2…\(lastPage))") }
            guard visited.insert(number).inserted else { return report("\(name): page \(number) is reached twice (a cycle or a shared page)") }
            guard level <= maxDepth + 1 else { return report("\(name): page \(number) lies deeper than the tree's depth \(maxDepth)") }
            guard let page = read(Int(number) * pageSize, pageSize) else { return report("\(name): page \(number) cannot be read") }
            let where_ = "\(name), page \(number)"
            pagesByTree[name, default: []].append(number)
            guard Self.u64(page, 0) == number else { return report("\(where_): its header names page \(Self.u64(page, 0)) (damaged header)") }
            let flags = Self.u16(page, 10) & ~UInt16(0x10 | 0x4000 | 0x8000)  // ignore P_DIRTY, P_LOOSE, P_KEEP
            let lower = Int(Self.u16(page, 12)), upper = Int(Self.u16(page, 14))
            guard flags == LMDBPageAudit.pBranch || flags == LMDBPageAudit.pLeaf || flags == LMDBPageAudit.pLeaf | LMDBPageAudit.pLeaf2 else {
                return report("\(where_): flags 0x\(String(flags, radix: 16)) are not a branch or leaf page (damaged header)")
            }
            guard lower >= LMDBPageAudit.headerSize, lower <= upper, upper <= pageSize, lower % 2 == 0 else {
                return report("\(where_): free-space bounds \(lower)…\(upper) do not fit a \(pageSize)-byte page (damaged header)")
            }
            if flags & LMDBPageAudit.pLeaf2 != 0 { return }  // fixed-size keys packed after the header: nothing to follow
            let count = (lower - LMDBPageAudit.headerSize) / 2
            let isBranch = flags == LMDBPageAudit.pBranch
            if isBranch && count == 0 { return report("\(where_): a branch page without children") }
            for i in 0..<count {
                let offset = Int(Self.u16(page, LMDBPageAudit.headerSize + 2 * i))
                guard offset >= upper, offset + LMDBPageAudit.nodeSize <= pageSize else {
                    return report("\(where_): node \(i) lies at \(offset), outside the page's node area \(upper)…\(pageSize)")
                }
                let lo = UInt64(Self.u16(page, offset)), hi = UInt64(Self.u16(page, offset + 2))
                let nodeFlags = Self.u16(page, offset + 4), keySize = Int(Self.u16(page, offset + 6))
                let dataStart = offset + LMDBPageAudit.nodeSize + keySize
                guard dataStart <= pageSize else { return report("\(where_): the key of node \(i) runs past the page") }
                if isBranch {
                    let child = lo | hi << 16 | UInt64(nodeFlags) << 32
                    walk(page: child, name: name, level: level + 1, maxDepth: maxDepth, named: named)
                    continue
                }
                let dataSize = Int(lo | hi << 16)
                if nodeFlags & LMDBPageAudit.fBigData != 0 {
                    guard dataStart + 8 <= pageSize else { return report("\(where_): node \(i) runs past the page") }
                    checkOverflow(Self.u64(page, dataStart), dataSize: dataSize, name: "\(where_), node \(i)")
                    continue
                }
                guard dataStart + dataSize <= pageSize else { return report("\(where_): the data of node \(i) runs past the page") }
                if nodeFlags & LMDBPageAudit.fSubData != 0 {
                    guard dataSize == LMDBPageAudit.dbRecordSize else { return report("\(where_): node \(i) holds a database record of \(dataSize) bytes") }
                    let key = String(decoding: page[(offset + LMDBPageAudit.nodeSize)..<dataStart], as: UTF8.self)
                    let sub = named && nodeFlags & LMDBPageAudit.fDupData == 0 ? "database '\(key)'" : "\(name), duplicates of a key"
                    walkDatabase(record: Array(page[dataStart..<(dataStart + dataSize)]), name: sub, named: false)
                } else if nodeFlags & LMDBPageAudit.fDupData != 0 {
                    // An inline sub-page of duplicates: its own header, within the node's data.
                    guard dataSize >= LMDBPageAudit.headerSize else { return report("\(where_): node \(i) holds a sub-page of \(dataSize) bytes") }
                    let subFlags = Self.u16(page, dataStart + 10), subLower = Int(Self.u16(page, dataStart + 12)),
                        subUpper = Int(Self.u16(page, dataStart + 14))
                    guard subFlags & LMDBPageAudit.pSubpage != 0, subLower >= LMDBPageAudit.headerSize, subLower <= subUpper, subUpper <= dataSize else {
                        return report("\(where_): the duplicates sub-page of node \(i) is damaged")
                    }
                }
            }
        }

        /// A value stored on overflow pages: the first one says it is one and how many follow.
        mutating func checkOverflow(_ number: UInt64, dataSize: Int, name: String) {
            guard number >= 2, number <= lastPage else { return report("\(name): refers to overflow page \(number), outside the file") }
            guard visited.insert(number).inserted else { return report("\(name): overflow page \(number) is reached twice") }
            guard let header = read(Int(number) * pageSize, LMDBPageAudit.headerSize) else { return report("\(name): overflow page \(number) cannot be read") }
            let pages = UInt64(Self.u32(header, 12))
            let needed = UInt64((dataSize + LMDBPageAudit.headerSize + pageSize - 1) / pageSize)
            // LMDB reuses a value's overflow pages for a smaller new value: more pages than needed is fine.
            guard Self.u64(header, 0) == number, Self.u16(header, 10) & LMDBPageAudit.pOverflow != 0, pages >= needed,
                  number + pages - 1 <= lastPage else {
                return report("\(name): overflow page \(number) has a damaged header (a \(dataSize)-byte value needs \(needed) pages)")
            }
        }
    }
}
