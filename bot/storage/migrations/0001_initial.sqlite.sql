-- Paperboy schema v1 for SQLite.
-- Datetimes are fixed-width ISO-8601 UTC text ("2024-05-06T07:08:09.000000+00:00"), so they
-- sort and compare correctly as text.

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    platform      TEXT    NOT NULL,
    workspace     TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    cron          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL,
    kind          TEXT    NOT NULL DEFAULT 'curated',
    enabled       INTEGER NOT NULL DEFAULT 1,
    paused_reason TEXT,
    last_fire_at  TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    UNIQUE (platform, workspace, channel)
);

-- No foreign key to subscriptions: the ledger is history and outlives its subscription.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id INTEGER NOT NULL,
    digest_key      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'skipped')),
    message_id      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    UNIQUE (subscription_id, digest_key)
);

CREATE INDEX deliveries_status ON deliveries (status);

-- paper_ids is a JSON array of paper ids, rank order.
CREATE TABLE posted (
    platform   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    workspace  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    digest_key TEXT NOT NULL,
    paper_ids  TEXT NOT NULL DEFAULT '[]',
    posted_at  TEXT NOT NULL,
    PRIMARY KEY (platform, message_id)
);

CREATE INDEX posted_channel ON posted (platform, workspace, channel, posted_at);

CREATE TABLE votes (
    platform   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    emoji      TEXT NOT NULL,
    workspace  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    paper_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (platform, message_id, user_id, emoji)
);

CREATE INDEX votes_created ON votes (created_at);
CREATE INDEX votes_paper ON votes (paper_id);
CREATE INDEX votes_scope ON votes (platform, workspace, channel, created_at);

CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    seen_at  TEXT NOT NULL
);

CREATE INDEX events_seen ON events (seen_at);
