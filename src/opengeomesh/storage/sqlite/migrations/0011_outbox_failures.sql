-- When the outbox gave up on a message (seconds since epoch; NULL while it still tries). A
-- failed message is never claimed; `opengeomesh share outbox --retry` sends it again.
ALTER TABLE outbox ADD COLUMN failed_at REAL;
