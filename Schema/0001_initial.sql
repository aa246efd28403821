-- radb catalog, schema version 1.
-- Applied inside one transaction by RADBStore; PRAGMA user_version is set by the store after
-- each migration file, so a file never sets it itself.

-- The embedding model that wrote every vector of this database (exactly one row).
CREATE TABLE model (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    identity    TEXT    NOT NULL,          -- content hash of the model file
    dimension   INTEGER NOT NULL CHECK (dimension > 0),
    created_at  REAL    NOT NULL           -- seconds since 1970
);

-- The anchor vectors that define the partitions, so the database is self-describing.
CREATE TABLE anchors (
    anchor  INTEGER PRIMARY KEY,           -- partition id (Int32)
    vector  BLOB    NOT NULL               -- dimension × Float32, little-endian
);

-- One row per stored vector; id is the LMDB id (never reused).
CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    path          TEXT    NOT NULL,
    content_hash  TEXT    NOT NULL,
    content_key   INTEGER NOT NULL,        -- FNV-1a 64 of content_hash: a compact index key
    label         TEXT,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    anchor        INTEGER NOT NULL,
    added_at      REAL    NOT NULL
);
-- Indexing the 64-bit key instead of the hash text halves the cost of inserting into this
-- (randomly ordered) index; lookups compare content_hash too, so collisions are harmless.
CREATE INDEX items_by_content_key ON items(content_key);
CREATE INDEX items_by_label ON items(label);

-- Cross-store commit protocol: the sequence number of the last operation applied here.
-- LMDB's meta "seq" is always equal or exactly one ahead (see VectorStore.swift).
CREATE TABLE commit_state (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    seq        INTEGER NOT NULL
);
