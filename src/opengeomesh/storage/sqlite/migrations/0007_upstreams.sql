-- Upstream OGC API – Features servers (the operator's own pygeoapi, ldproxy, GeoServer …) and
-- the local collections whose features are read from them. `secret` is the password, token or
-- header value, sealed with the data directory's secret key (never stored in the clear).
CREATE TABLE upstreams (
    key           INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    base_url      TEXT NOT NULL,
    auth          TEXT NOT NULL CHECK (auth IN ('none', 'basic', 'bearer', 'header')),
    username      TEXT NOT NULL DEFAULT '',
    header_name   TEXT NOT NULL DEFAULT '',
    secret        BLOB,
    allow_private INTEGER NOT NULL DEFAULT 0,
    conforms_to   TEXT NOT NULL DEFAULT '[]',
    created       TEXT NOT NULL
);

-- A local collection (owner, grants, shares as for any) whose features live upstream.
CREATE TABLE upstream_collections (
    collection_key INTEGER PRIMARY KEY REFERENCES collections(key) ON DELETE CASCADE,
    upstream_key   INTEGER NOT NULL REFERENCES upstreams(key),
    remote_id      TEXT NOT NULL
);
CREATE INDEX upstream_collections_upstream ON upstream_collections(upstream_key);

-- What the last poll saw of each feature (a hash of its GeoJSON), to publish differences.
CREATE TABLE upstream_snapshots (
    collection_key INTEGER NOT NULL
        REFERENCES upstream_collections(collection_key) ON DELETE CASCADE,
    feature_id     TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (collection_key, feature_id)
);
