-- Scheduling at scale: each subscription keeps its next scheduled instant, so the scheduler
-- reads only the subscriptions that are due (or not yet planned) instead of all of them.
--
-- next_fire_at: the next instant (UTC) the scheduler will handle this subscription; NULL means
-- "not planned yet" (new, changed schedule, resumed, or from before this version): the
-- scheduler plans it on its next wake. The index serves both reads, the due ones in order of
-- their instant and the unplanned ones, and the earliest instant still to come.

ALTER TABLE subscriptions ADD COLUMN next_fire_at {{TIME}};

CREATE INDEX subscriptions_next_fire ON subscriptions (enabled, next_fire_at, id);
