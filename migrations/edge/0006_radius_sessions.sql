-- Sessions a RADIUS server authorised (hotspotd as a NAS, `[radius]` on): what the
-- Access-Accept said that `sessions` has no column for. Written in the same transaction as the
-- session, before the firewall grant; a restart restores the session like any other.
CREATE TABLE radius_sessions (
    session_id        TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id),
    user_name         TEXT NOT NULL,
    acct_session_id   TEXT NOT NULL UNIQUE,
    class             BLOB,     -- the Class attributes, each as a length byte and its value
    idle_timeout      INTEGER,  -- seconds; NULL: the site's sessions.idle_timeout_seconds
    interim_interval  INTEGER NOT NULL,
    reply_message     TEXT,
    created_at        INTEGER NOT NULL
) STRICT;
