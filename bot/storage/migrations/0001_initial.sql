-- Paperboy schema v1, one source for SQLite and PostgreSQL (the double-brace type macros are
-- expanded per dialect by bot/storage/migrations/__init__.py).
-- SQLite keeps datetimes as fixed-width ISO-8601 UTC text ("2024-05-06T07:08:09.000000+00:00"),
-- so they sort and compare correctly as text; PostgreSQL as TIMESTAMPTZ.

CREATE TABLE subscriptions (
    id            {{ID}},
    platform      TEXT     NOT NULL,
    workspace     TEXT     NOT NULL,
    channel       TEXT     NOT NULL,
    cron          TEXT     NOT NULL,
    timezone      TEXT     NOT NULL,
    kind          TEXT     NOT NULL DEFAULT 'curated',
    enabled       {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    paused_reason TEXT,
    last_fire_at  {{TIME}},
    created_at    {{TIME}} NOT NULL,
    updated_at    {{TIME}} NOT NULL,
    UNIQUE (platform, workspace, channel)
);

-- No foreign key to subscriptions: the ledger is history and outlives its subscription.
CREATE TABLE deliveries (
    id              {{ID}},
    subscription_id {{ID_REF}} NOT NULL,
    digest_key      TEXT       NOT NULL,
    idempotency_key TEXT       NOT NULL,
    status          TEXT       NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'skipped')),
    message_id      TEXT,
    attempts        INTEGER    NOT NULL DEFAULT 0,
    created_at      {{TIME}}   NOT NULL,
    updated_at      {{TIME}}   NOT NULL,
    UNIQUE (subscription_id, digest_key)
);

CREATE INDEX deliveries_status ON deliveries (status);

-- paper_ids: the message's paper ids in rank order (SQLite: a JSON array; PostgreSQL: TEXT[]).
CREATE TABLE posted (
    platform   TEXT         NOT NULL,
    message_id TEXT         NOT NULL,
    workspace  TEXT         NOT NULL,
    channel    TEXT         NOT NULL,
    digest_key TEXT         NOT NULL,
    paper_ids  {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    posted_at  {{TIME}}     NOT NULL,
    PRIMARY KEY (platform, message_id)
);

CREATE INDEX posted_channel ON posted (platform, workspace, channel, posted_at);

CREATE TABLE votes (
    platform   TEXT     NOT NULL,
    message_id TEXT     NOT NULL,
    user_id    TEXT     NOT NULL,
    emoji      TEXT     NOT NULL,
    workspace  TEXT     NOT NULL,
    channel    TEXT     NOT NULL,
    paper_id   TEXT     NOT NULL,
    created_at {{TIME}} NOT NULL,
    PRIMARY KEY (platform, message_id, user_id, emoji)
);

CREATE INDEX votes_created ON votes (created_at);
CREATE INDEX votes_paper ON votes (paper_id);
CREATE INDEX votes_scope ON votes (platform, workspace, channel, created_at);

CREATE TABLE events (
    event_id TEXT     PRIMARY KEY,
    seen_at  {{TIME}} NOT NULL
);

CREATE INDEX events_seen ON events (seen_at);
