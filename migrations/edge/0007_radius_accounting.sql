-- RADIUS accounting waiting to be sent, in order (hotspotd as a NAS). A row is the facts of one
-- Accounting-Request; the packet is built from them and the `[radius]` settings when it is sent,
-- with Acct-Delay-Time counted from `event_time`. Rows are deleted once a server answers.
-- Bounded like the outbox: past the bound the oldest Interim-Updates are dropped (counted in
-- sync_state.radius_acct_dropped); Start, Stop, Accounting-On and -Off are kept.
CREATE TABLE radius_acct_queue (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    status_type      INTEGER NOT NULL CHECK (status_type IN (1, 2, 3, 7, 8)),
    session_id       TEXT REFERENCES sessions (id),   -- NULL for Accounting-On and -Off
    input_octets     INTEGER NOT NULL DEFAULT 0,      -- from the guest (the session's bytes_up)
    output_octets    INTEGER NOT NULL DEFAULT 0,      -- to the guest (bytes_down)
    session_time     INTEGER NOT NULL DEFAULT 0,
    terminate_cause  INTEGER,
    event_time       INTEGER NOT NULL,
    droppable        INTEGER NOT NULL DEFAULT 0 CHECK (droppable IN (0, 1))
) STRICT;
CREATE INDEX radius_acct_queue_session ON radius_acct_queue (session_id);
-- When the session's last Start or Interim-Update was queued: the next is due an interval later.
ALTER TABLE radius_sessions ADD COLUMN interim_at INTEGER;
