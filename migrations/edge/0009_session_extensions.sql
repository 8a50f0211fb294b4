-- Operators' extensions of live sessions pulled from the cloud, by the cloud's id: one found here
-- is not applied again when a page is pulled twice (a crash before its cursor was stored).
CREATE TABLE applied_extensions (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
) STRICT;
