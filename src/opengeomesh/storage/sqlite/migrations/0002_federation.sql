-- Federation: e-mail of users (sent in invite acceptances), peers, invites, contacts, and the
-- signatures seen recently (replay protection).
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

CREATE TABLE peers (
    host         TEXT PRIMARY KEY,
    organisation TEXT NOT NULL DEFAULT '',
    trusted      INTEGER NOT NULL DEFAULT 0,
    blocked      INTEGER NOT NULL DEFAULT 0,
    invited      INTEGER NOT NULL DEFAULT 0,
    updated      TEXT NOT NULL
);

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,
    expires     TEXT NOT NULL,
    accepted    TEXT,
    accepted_by TEXT
);
CREATE INDEX invites_user ON invites(user_id);

CREATE TABLE contacts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    name    TEXT NOT NULL,
    email   TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (user_id, address)
);

CREATE TABLE seen_signatures (
    digest  TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE INDEX seen_signatures_expires ON seen_signatures(expires);
