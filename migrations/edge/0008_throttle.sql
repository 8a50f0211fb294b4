-- The voucher guessing throttle, kept across restarts: one row per client key (its MAC, or its
-- IP when the MAC is unknown) with recent wrong codes, and the row '*' for the whole site
-- (failures = wrong codes in the site-wide bucket, last_failure = when it was last brought up
-- to date). Rows whose failures are forgotten are deleted when loaded.
CREATE TABLE voucher_throttle (
    key            TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL CHECK (failures >= 0),
    last_failure   INTEGER NOT NULL,
    blocked_until  INTEGER NOT NULL
) STRICT;
