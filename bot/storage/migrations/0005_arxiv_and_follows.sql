-- arXiv metadata and follows.
--
-- 1. arxiv_meta: what the arXiv API says about each arXiv id in the archive (authors, abstract,
--    categories, first and latest version), kept so the bot starts offline with it and asks
--    arXiv only about ids that are missing or stale. found = false: arXiv did not know the id.
-- 2. follows: what each person follows, per workspace (private, a few each): a spec as typed,
--    normalised (`diffusion -video`, `author:vaswani`, `cat:cs.cl`).
-- 3. followers: per person, where they last followed from (to tell them privately there when
--    their direct messages are blocked), whether their follows are paused, and whether they
--    were told (where the platform cannot tell them at once, their next command does).
-- 4. follow_alerts: the ledger of follow alerts, one row per (person, week), claimed before
--    the direct message is sent, so restarts and replicas never send one twice.

CREATE TABLE arxiv_meta (
    arxiv_id         TEXT         PRIMARY KEY,
    found            {{BOOL}}     NOT NULL,
    title            TEXT         NOT NULL DEFAULT '',
    authors          {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    abstract         TEXT         NOT NULL DEFAULT '',
    primary_category TEXT,
    categories       {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    published        {{TIME}},
    updated          {{TIME}},
    version          INTEGER,
    fetched_at       {{TIME}}     NOT NULL
);

CREATE TABLE follows (
    id         {{ID}},
    platform   TEXT     NOT NULL,
    workspace  TEXT     NOT NULL,
    user_id    TEXT     NOT NULL,
    spec       TEXT     NOT NULL,
    created_at {{TIME}} NOT NULL,
    UNIQUE (platform, workspace, user_id, spec)
);

CREATE TABLE followers (
    platform      TEXT     NOT NULL,
    workspace     TEXT     NOT NULL,
    user_id       TEXT     NOT NULL,
    channel       TEXT     NOT NULL,
    paused_reason TEXT,
    told          {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    updated_at    {{TIME}} NOT NULL,
    PRIMARY KEY (platform, workspace, user_id)
);

CREATE TABLE follow_alerts (
    platform   TEXT         NOT NULL,
    workspace  TEXT         NOT NULL,
    user_id    TEXT         NOT NULL,
    week_key   TEXT         NOT NULL,
    status     TEXT         NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'sent', 'blocked', 'failed', 'unknown')),
    paper_ids  {{ID_ARRAY}} NOT NULL DEFAULT {{EMPTY_ID_ARRAY}},
    owner      TEXT,
    attempts   INTEGER      NOT NULL DEFAULT 0,
    message_id TEXT,
    created_at {{TIME}}     NOT NULL,
    updated_at {{TIME}}     NOT NULL,
    PRIMARY KEY (platform, workspace, user_id, week_key)
);

CREATE INDEX follows_person ON follows (platform, workspace, user_id);
