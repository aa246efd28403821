-- radb catalog, schema version 2.
-- Lookups by content hash moved to the vector half: LMDB's `contents` database (content key →
-- ids), written in the same LMDB transaction as the vectors (see ContentIndex.swift). Keeping
-- this random-order index in SQLite cost ~3 µs per inserted row, so it is dropped. The store
-- builds `contents` before it applies this migration, so a reader that sees this schema also
-- sees the LMDB index. `content_key` stays: a read-only open of a schema-1 database still uses it.
DROP INDEX IF EXISTS items_by_content_key;
