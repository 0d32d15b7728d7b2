-- Requests per key (token hash, peer host, client address) in one-minute windows, added up
-- by every process of a server (limits/rates.py); rows of ended windows are dropped.
CREATE TABLE rate_limit_hits (
    key    text NOT NULL,
    minute bigint NOT NULL,
    hits   bigint NOT NULL,
    PRIMARY KEY (key, minute)
);
CREATE INDEX rate_limit_hits_window ON rate_limit_hits (minute);
