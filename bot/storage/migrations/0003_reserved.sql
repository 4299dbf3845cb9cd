-- Placeholder: version 3 belongs to issue 12 (votes keyed by channel), developed on another
-- branch. It exists only so that this branch's migrations are numbered 1..N; delete this file
-- when that branch's 0003 is merged.
-- (A statement, not only comments: PostgreSQL's driver refuses an empty query string.)
SELECT 1;
