import CLMDB
#if canImport(Glibc)
import Glibc
#endif

/// An LMDB return code, kept internal: the store turns it into a `StoreError` naming the path.
package struct LMDBError: Error, CustomStringConvertible {
    let code: Int32
    let operation: String

    package init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    var isMapFull: Bool { code == MDB_MAP_FULL }
    /// A refusal of the file system (read-only, permissions, full, I/O), not a damaged file.
    var isEnvironmental: Bool { [EROFS, EACCES, EPERM, ENOSPC, EDQUOT, EIO, EAGAIN, ENOMEM].contains(code) }
    package var description: String { "\(operation): \(String(cString: mdb_strerror(code))) (code \(code))" }

    /// Throws unless `code` is `MDB_SUCCESS`.
    @inline(__always)
    package static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw LMDBError(code: code, operation: operation()) }
    }
}
