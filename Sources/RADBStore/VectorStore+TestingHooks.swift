import CLMDB
import Foundation
import GRDB

// MARK: - Hooks for RADBStore's own tests (package access: not part of the public API)

extension VectorStore {
    /// Rewrites this database into the layout radb wrote before the content-hash index moved
    /// to LMDB — vector format 1 (no `contents` database) and catalog schema 1 (the
    /// `items_by_content_key` index of Schema/0001, `user_version` 1) — so that the tests can
    /// open a real format-1 database. Takes the writer lock; the store must not be used after.
    package func rewriteAsVersion1ForTesting() throws {
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try lmdbCall {
            try lmdb.write { txn in
                if let handles = try lmdb.contentsDB() {
                    for dbi in handles.both { try LMDBError.check(mdb_drop(txn.handle, dbi, 1), "mdb_drop(contents)") }
                }
                try txn.putMeta("format", 1)
            }
        }
        try catalog.wrap {
            try catalog.pool.writeWithoutTransaction { db in
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS items_by_content_key ON items(content_key)")
                try db.execute(sql: "PRAGMA user_version = 1")
            }
        }
    }

    /// Damages the content-hash index the way a bug could, so that the tests can prove that
    /// `check()` notices: removes the entry of `id` (indexed under `contentHash`), and adds one
    /// for `danglingId` under `contentHash` if given.
    package func damageContentIndexForTesting(id: UInt64, contentHash: String, danglingId: UInt64? = nil) throws {
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        let handles = try contentsForWriting()
        try lmdbCall {
            try lmdb.write { txn in
                let key = ContentIndex.key(contentHash)
                try ContentIndex.remove([.init(key: key, id: id)], txn: txn, handles: handles)
                if let danglingId {
                    try ContentIndex.insert([.init(key: key, id: danglingId)], txn: txn, handles: handles, mergeMinimum: .max)
                }
            }
        }
    }

    /// Entries in the (main, recent) parts of the content-hash index, to test merging.
    package func contentIndexSizesForTesting() throws -> (main: Int, recent: Int) {
        let handles = try contentsForWriting()
        return try lmdbCall { try lmdb.read { (try $0.entryCount(handles.main), try $0.entryCount(handles.recent)) } }
    }
}
