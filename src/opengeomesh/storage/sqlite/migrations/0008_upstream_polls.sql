-- When the poller first took the snapshot of an exposed collection (NULL: never polled; the
-- first poll records no changes, it only takes the snapshot).
ALTER TABLE upstream_collections ADD COLUMN polled TEXT;

-- Leases of background work that one process of all must do at a time (the upstream poller):
-- taken and renewed by a conditional upsert, held until `claimed_until` (seconds since epoch).
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    claimed_until REAL NOT NULL
);
