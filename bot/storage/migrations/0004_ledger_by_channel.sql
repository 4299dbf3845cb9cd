-- Paperboy schema v2, one source for SQLite and PostgreSQL (macros: see __init__.py).
--
-- Exactly once in ordinary operation:
--
-- 1. The delivery ledger is keyed by the channel (platform, workspace, channel) and the digest,
--    no longer by the subscription row, so unsubscribing and subscribing again keeps the
--    channel's history. Each row also keeps its digest's paper ids (a week a curator edited
--    is still the same week), a message to search after when looking for its post on the
--    platform, and the process that took it with the lease it holds it under (fencing).
--    The table is rebuilt (SQLite cannot drop a UNIQUE constraint in place). A row gets its
--    channel from its subscription, else from the message it posted, else the placeholder
--    channel 'subscription:ID' of no platform; and its paper ids from its posted message.
--    Old rows for one channel and digest (a channel that got a week twice after subscribing
--    again) all stay: the first sent one keeps the key, the others get the key with
--    '#duplicate-ID' appended (a pending one among them is skipped). Ids are renumbered in
--    their old order; nothing refers to them.
-- 2. Admin notices (rows of the pseudo subscription 0) move to their own outbox, retried
--    until posted. The old ones are history: posted if they had a message, dropped if not.
-- 3. Subscriptions remember where their schedule was last set (the config file or chat), and
--    config_applied which config entry was last applied to each channel, so a change made in
--    chat stays until the file's entry for that channel is edited.
-- 4. leases: leadership as a lease with an owner, a fencing token and an expiry.

ALTER TABLE deliveries RENAME TO deliveries_v1;

CREATE TABLE deliveries (
    id              {{ID}},
    platform        TEXT         NOT NULL,
    workspace       TEXT         NOT NULL,
    channel         TEXT         NOT NULL,
    digest_key      TEXT         NOT NULL,
    subscription_id {{ID_REF}},
    idempotency_key TEXT         NOT NULL,
    status          TEXT         NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'skipped')),
    message_id      TEXT,
    attempts        INTEGER      NOT NULL DEFAULT 0,
    paper_ids       {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    search_after    TEXT,
    owner           TEXT,
    lease_until     {{TIME}},
    created_at      {{TIME}}     NOT NULL,
    updated_at      {{TIME}}     NOT NULL
);

INSERT INTO deliveries (platform, workspace, channel, digest_key, subscription_id,
                        idempotency_key, status, message_id, attempts, paper_ids,
                        created_at, updated_at)
SELECT platform, workspace, channel,
       CASE WHEN n = 1 THEN digest_key
            ELSE digest_key || '#duplicate-' || CAST(old_id AS TEXT) END,
       subscription_id, idempotency_key,
       CASE WHEN n > 1 AND status = 'pending' THEN 'skipped' ELSE status END,
       message_id, attempts, paper_ids, created_at, updated_at
FROM (
    SELECT located.*,
           ROW_NUMBER() OVER (
               PARTITION BY platform, workspace, channel, digest_key
               ORDER BY CASE status WHEN 'sent' THEN 0 WHEN 'skipped' THEN 1 ELSE 2 END, old_id
           ) AS n
    FROM (
        SELECT d.id AS old_id, d.subscription_id, d.digest_key, d.idempotency_key, d.status,
               d.message_id, d.attempts, d.created_at, d.updated_at,
               COALESCE(s.platform, p.platform, '') AS platform,
               COALESCE(s.workspace, p.workspace, '') AS workspace,
               COALESCE(s.channel, p.channel,
                        'subscription:' || CAST(d.subscription_id AS TEXT)) AS channel,
               COALESCE(p.paper_ids, {{EMPTY_ID_ARRAY}}) AS paper_ids
        FROM deliveries_v1 AS d
        LEFT JOIN subscriptions AS s ON s.id = d.subscription_id
        LEFT JOIN posted AS p
               ON p.message_id = d.message_id AND p.digest_key = d.digest_key
              AND p.platform = COALESCE(s.platform, p.platform)
        WHERE NOT (d.subscription_id = 0 AND d.digest_key LIKE 'admin:%')
    ) AS located
) AS numbered
ORDER BY old_id;

CREATE TABLE notices (
    key        TEXT     PRIMARY KEY,
    text       TEXT     NOT NULL,
    status     TEXT     NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'posted', 'dropped')),
    attempts   INTEGER  NOT NULL DEFAULT 0,
    next_at    {{TIME}} NOT NULL,
    message_id TEXT,
    created_at {{TIME}} NOT NULL,
    updated_at {{TIME}} NOT NULL
);

INSERT INTO notices (key, text, status, attempts, next_at, message_id, created_at, updated_at)
SELECT substr(digest_key, 7), '',
       CASE WHEN message_id IS NULL THEN 'dropped' ELSE 'posted' END,
       attempts, updated_at, message_id, created_at, updated_at
FROM deliveries_v1
WHERE subscription_id = 0 AND digest_key LIKE 'admin:%';

DROP TABLE deliveries_v1;

CREATE UNIQUE INDEX deliveries_channel_digest ON deliveries (platform, workspace, channel, digest_key);
CREATE INDEX deliveries_status ON deliveries (status);
CREATE INDEX notices_due ON notices (status, next_at);

ALTER TABLE subscriptions ADD COLUMN origin TEXT NOT NULL DEFAULT 'chat'
    CHECK (origin IN ('config', 'chat'));

CREATE TABLE config_applied (
    platform   TEXT     NOT NULL,
    workspace  TEXT     NOT NULL,
    channel    TEXT     NOT NULL,
    entry_hash TEXT     NOT NULL,
    applied_at {{TIME}} NOT NULL,
    PRIMARY KEY (platform, workspace, channel)
);

CREATE TABLE leases (
    name       TEXT       PRIMARY KEY,
    owner      TEXT       NOT NULL,
    token      {{ID_REF}} NOT NULL,
    expires_at {{TIME}}   NOT NULL
);
