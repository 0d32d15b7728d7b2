-- Accounts, collections and local grants. Feature tables are made per collection by the store.
CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    is_admin     INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL
);

CREATE TABLE user_groups (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created    TEXT NOT NULL,
    last_used  TEXT
);

CREATE TABLE collections (
    key               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    owner_id          INTEGER NOT NULL REFERENCES users(id),
    public            INTEGER NOT NULL DEFAULT 0,
    temporal_property TEXT,
    minx REAL, miny REAL, maxx REAL, maxy REAL,
    t_min REAL, t_max REAL,
    feature_count     INTEGER NOT NULL DEFAULT 0,
    change_seq        INTEGER NOT NULL DEFAULT 0,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL
);

CREATE TABLE collection_grants (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    subject_kind   TEXT NOT NULL CHECK (subject_kind IN ('user', 'group')),
    subject_id     INTEGER NOT NULL,
    permission     TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    PRIMARY KEY (collection_key, subject_kind, subject_id)
);
CREATE INDEX collection_grants_subject ON collection_grants(subject_kind, subject_id);
