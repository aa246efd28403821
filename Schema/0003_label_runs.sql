-- radb catalog, schema version 3.
-- The label index becomes runs: one row per (write, label) holding, in one blob, the ascending
-- ids that write gave that label (8-byte little-endian each). `items_by_label` put every
-- inserted row into the middle of a B-tree (~1.1 µs per row, half of the catalog's insert
-- cost); a 10,000-row write with 10 labels now adds 10 rows here. See LabelRuns.swift for the
-- invariants. The store fills this table from `items` in the same transaction as this file.
CREATE TABLE label_runs (
    label     TEXT    NOT NULL,
    first_id  INTEGER NOT NULL,            -- the run's smallest id
    ids       BLOB    NOT NULL,            -- the run's ids, ascending
    PRIMARY KEY (label, first_id)
) WITHOUT ROWID;
DROP INDEX IF EXISTS items_by_label;
