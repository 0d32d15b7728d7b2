-- Webhook endpoints: a user's (owner_id) gets events about that user's shares, invites and
-- collections; the operator's (owner_id NULL) gets every event of the server. The secret that
-- signs deliveries is kept sealed (ocm/secretbox.py).
CREATE TABLE webhook_endpoints (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    created       REAL NOT NULL
);

-- The event types each endpoint asked for.
CREATE TABLE webhook_subscriptions (
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- One event for one endpoint: waiting (pending, claimed by a sender until `claimed_until`),
-- delivered, or failed for good. `subject` orders deliveries: one of an endpoint's deliveries
-- with a subject is sent only once the earlier ones with that subject are done.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id   INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL UNIQUE,
    event_type    TEXT NOT NULL,
    subject       TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_status   INTEGER,
    last_error    TEXT NOT NULL DEFAULT '',
    created       REAL NOT NULL,
    updated       REAL NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries(endpoint_id, subject, id);
-- Deliveries done (delivered or failed) are kept for a while, then pruned by age.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries(updated) WHERE status <> 'pending';
