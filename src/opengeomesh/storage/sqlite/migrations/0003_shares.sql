-- Sharing: shares sent (with their access tokens and the operator's per-collection sharing
-- rules), shares received, and the outbox of messages to other servers.
CREATE TABLE shares_sent (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id    TEXT NOT NULL UNIQUE,
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    sender_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    share_with     TEXT NOT NULL,
    share_type     TEXT NOT NULL CHECK (share_type IN ('user', 'group')),
    recipient_host TEXT NOT NULL,
    recipient_name TEXT NOT NULL DEFAULT '',
    permission     TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    secret_hash    TEXT NOT NULL UNIQUE,
    secret_sealed  BLOB,
    state          TEXT NOT NULL CHECK (state IN ('sending', 'pending', 'accepted', 'declined', 'refused')),
    problem        TEXT NOT NULL DEFAULT '',
    created        TEXT NOT NULL,
    updated        TEXT NOT NULL
);
CREATE INDEX shares_sent_sender ON shares_sent(sender_id);
CREATE INDEX shares_sent_collection ON shares_sent(collection_key);

CREATE TABLE share_tokens (
    token_hash TEXT PRIMARY KEY,
    share_id   INTEGER NOT NULL REFERENCES shares_sent(id) ON DELETE CASCADE,
    expires    REAL NOT NULL
);
CREATE INDEX share_tokens_share ON share_tokens(share_id);

CREATE TABLE sharing_rules (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    domain         TEXT NOT NULL,
    permission     TEXT NOT NULL CHECK (permission IN ('none', 'read', 'write')),
    PRIMARY KEY (collection_key, domain)
);

CREATE TABLE shares_received (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_host  TEXT NOT NULL,
    provider_id  TEXT NOT NULL,
    user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    group_id     INTEGER REFERENCES user_groups(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL,
    owner_name   TEXT NOT NULL DEFAULT '',
    sender       TEXT NOT NULL,
    sender_name  TEXT NOT NULL DEFAULT '',
    uri          TEXT NOT NULL,
    permission   TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    secret       BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    created      TEXT NOT NULL,
    updated      TEXT NOT NULL,
    UNIQUE (sender_host, provider_id),
    CHECK ((user_id IS NULL) != (group_id IS NULL))
);
CREATE INDEX shares_received_user ON shares_received(user_id);
CREATE INDEX shares_received_group ON shares_received(group_id);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    host          TEXT NOT NULL,
    share_id      INTEGER REFERENCES shares_sent(id) ON DELETE CASCADE,
    notification  TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    created       TEXT NOT NULL,
    CHECK ((share_id IS NULL) != (notification IS NULL))
);
CREATE INDEX outbox_due ON outbox(next_attempt);
