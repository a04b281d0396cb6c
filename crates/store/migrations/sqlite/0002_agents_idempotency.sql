-- Site agents announce themselves with heartbeats.
CREATE TABLE agents (
    site TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (site, name)
);

-- Responses to POSTs that carried an Idempotency-Key, replayed on retry.
-- status 0 marks a request still in progress.
CREATE TABLE idempotency (
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Set once the bus has taken the task; a durable bus need not get it again.
ALTER TABLE tasks ADD COLUMN published_at INTEGER;
