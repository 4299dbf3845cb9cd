-- Placeholder: version 2 belongs to issue 11 (delivery ledger), developed on another branch.
-- It exists only so that this branch's migrations are numbered 1..N; delete this file when
-- that branch's 0002 is merged.
-- (A statement, not only comments: PostgreSQL's driver refuses an empty query string.)
SELECT 1;
