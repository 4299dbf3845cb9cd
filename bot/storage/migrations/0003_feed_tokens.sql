-- The web archive's private per-channel links: one unguessable token per channel, printed by
-- the admin command `/papers feed` and replaced by `/papers feed rotate` (the old link then
-- answers 404). The token is the only key a web request carries; it is looked up, never listed.

CREATE TABLE feed_tokens (
    platform   TEXT     NOT NULL,
    workspace  TEXT     NOT NULL,
    channel    TEXT     NOT NULL,
    token      TEXT     NOT NULL,
    created_at {{TIME}} NOT NULL,
    PRIMARY KEY (platform, workspace, channel),
    UNIQUE (token)
);
