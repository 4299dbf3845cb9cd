-- Slack distribution (OAuth installs in many workspaces).
--
-- 1. slack_installations: the latest installation of the app in each workspace (or org),
--    as slack_sdk's Installation serialised to JSON in `data` (bot token included: the
--    database is as secret as the tokens it holds). enterprise_id is '' outside Enterprise
--    Grid, so the key is never NULL.
-- 2. slack_oauth_states: the `state` of each install flow started at /slack/install, kept
--    until it is consumed once by /slack/oauth_redirect or expires.

CREATE TABLE slack_installations (
    enterprise_id TEXT     NOT NULL,
    team_id       TEXT     NOT NULL,
    data          TEXT     NOT NULL,
    installed_at  {{TIME}} NOT NULL,
    PRIMARY KEY (enterprise_id, team_id)
);

CREATE TABLE slack_oauth_states (
    state      TEXT     PRIMARY KEY,
    expires_at {{TIME}} NOT NULL
);
