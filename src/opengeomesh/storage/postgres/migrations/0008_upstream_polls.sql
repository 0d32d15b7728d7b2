-- When the poller first took the snapshot of an exposed collection (NULL: never polled; the
-- first poll records no changes, it only takes the snapshot).
ALTER TABLE upstream_collections ADD COLUMN polled timestamptz;

-- Leases of background work that one process of all must do at a time (the upstream poller):
-- taken and renewed by a conditional upsert, held until `claimed_until` (seconds since epoch).
CREATE TABLE leases (
    name          text PRIMARY KEY,
    holder        text NOT NULL,
    claimed_until double precision NOT NULL
);
