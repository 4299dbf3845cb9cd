-- Every vote counts (one source for SQLite and PostgreSQL; macros as in 0001).
--
-- 1. Posted digests and votes are keyed by channel as well: a Slack message id (its ts) is
--    unique only within its channel. Both tables are rebuilt with the wider primary key and
--    their rows copied as they are (each row already carries its workspace and channel).
-- 2. seed_jobs: the vote reactions still to add under each posted digest, worked in the
--    background and resumed after a restart.
-- 3. shares: private answers as they were shown, so "Share to channel" posts exactly that.

CREATE TABLE posted_by_channel (
    platform   TEXT         NOT NULL,
    workspace  TEXT         NOT NULL,
    channel    TEXT         NOT NULL,
    message_id TEXT         NOT NULL,
    digest_key TEXT         NOT NULL,
    paper_ids  {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    posted_at  {{TIME}}     NOT NULL,
    PRIMARY KEY (platform, workspace, channel, message_id)
);

INSERT INTO posted_by_channel
    (platform, workspace, channel, message_id, digest_key, paper_ids, posted_at)
SELECT platform, workspace, channel, message_id, digest_key, paper_ids, posted_at FROM posted;

DROP TABLE posted;

ALTER TABLE posted_by_channel RENAME TO posted;

CREATE INDEX posted_channel ON posted (platform, workspace, channel, posted_at);
CREATE INDEX posted_recent ON posted (platform, posted_at);

CREATE TABLE votes_by_channel (
    platform   TEXT     NOT NULL,
    workspace  TEXT     NOT NULL,
    channel    TEXT     NOT NULL,
    message_id TEXT     NOT NULL,
    user_id    TEXT     NOT NULL,
    emoji      TEXT     NOT NULL,
    paper_id   TEXT     NOT NULL,
    created_at {{TIME}} NOT NULL,
    PRIMARY KEY (platform, workspace, channel, message_id, user_id, emoji)
);

INSERT INTO votes_by_channel
    (platform, workspace, channel, message_id, user_id, emoji, paper_id, created_at)
SELECT platform, workspace, channel, message_id, user_id, emoji, paper_id, created_at FROM votes;

DROP TABLE votes;

ALTER TABLE votes_by_channel RENAME TO votes;

CREATE INDEX votes_created ON votes (created_at);
CREATE INDEX votes_paper ON votes (paper_id);
CREATE INDEX votes_scope ON votes (platform, workspace, channel, created_at);

-- emoji: the reactions still to add, in order (SQLite: a JSON array; PostgreSQL: TEXT[]).
-- attempts: failures in a row since the last reaction went on.
CREATE TABLE seed_jobs (
    platform   TEXT         NOT NULL,
    workspace  TEXT         NOT NULL,
    channel    TEXT         NOT NULL,
    message_id TEXT         NOT NULL,
    emoji      {{ID_ARRAY}} NOT NULL,
    attempts   INTEGER      NOT NULL DEFAULT 0,
    created_at {{TIME}}     NOT NULL,
    updated_at {{TIME}}     NOT NULL,
    PRIMARY KEY (platform, workspace, channel, message_id)
);

CREATE INDEX seed_jobs_created ON seed_jobs (created_at);

-- message: the answer's neutral Message as JSON text; paper_ids and digest_key as in posted.
CREATE TABLE shares (
    id         TEXT         PRIMARY KEY,
    platform   TEXT         NOT NULL,
    workspace  TEXT         NOT NULL,
    channel    TEXT         NOT NULL,
    user_id    TEXT         NOT NULL,
    message    TEXT         NOT NULL,
    digest_key TEXT         NOT NULL,
    paper_ids  {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    created_at {{TIME}}     NOT NULL,
    expires_at {{TIME}}     NOT NULL
);

CREATE INDEX shares_expires ON shares (expires_at);
