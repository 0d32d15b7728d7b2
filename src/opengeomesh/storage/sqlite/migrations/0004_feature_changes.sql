-- The record of every change to a feature: who (a local user, or the OCM address behind a
-- share), when, what, and the version it produced.
CREATE TABLE feature_changes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    feature_id     TEXT NOT NULL,
    action         TEXT NOT NULL CHECK (action IN ('create', 'replace', 'update', 'delete')),
    actor          TEXT NOT NULL,
    at             TEXT NOT NULL,
    version        INTEGER NOT NULL
);
CREATE INDEX feature_changes_collection ON feature_changes(collection_key, id);
