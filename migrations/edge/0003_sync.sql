-- Sync with the cloud (protocol v1, shared/src/sync.rs): the outbox holds protocol events, the
-- pull cursor and counters live in sync_state, vouchers may be unlimited or revoked by the
-- cloud, and a session may end because the cloud refused its redemption.
-- Runs with foreign keys off (the migration runner checks them before committing), so tables
-- that others reference can be rebuilt.

-- Vouchers: 'unlimited' (the cloud's third voucher_type) and revocation by the cloud.
CREATE TABLE vouchers_v3 (
    id                   TEXT PRIMARY KEY NOT NULL,
    hotspot_id           TEXT,   -- NULL: valid here only (imported here, or sent by the cloud for this hotspot)
    voucher_code         TEXT NOT NULL UNIQUE CHECK (length(voucher_code) BETWEEN 4 AND 32),
    voucher_type         TEXT NOT NULL DEFAULT 'time_based'
                         CHECK (voucher_type IN ('time_based', 'data_based', 'unlimited')),
    duration_minutes     INTEGER CHECK (duration_minutes > 0),
    data_limit_mb        INTEGER CHECK (data_limit_mb > 0),
    plan_id              TEXT REFERENCES plans (id),
    price                TEXT NOT NULL DEFAULT '0',
    currency             TEXT NOT NULL DEFAULT 'KES',
    max_devices          INTEGER NOT NULL DEFAULT 1 CHECK (max_devices >= 1),
    expiry_date          INTEGER,
    is_used              INTEGER NOT NULL DEFAULT 0 CHECK (is_used IN (0, 1)),
    used_at              INTEGER,
    used_by_mac          TEXT,
    payment_reference    TEXT,
    mpesa_receipt_number TEXT,
    created_at           INTEGER NOT NULL,
    revoked              INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    updated_at           INTEGER,
    CHECK (voucher_type <> 'time_based' OR duration_minutes IS NOT NULL),
    CHECK (voucher_type <> 'data_based' OR data_limit_mb IS NOT NULL)
) STRICT;
INSERT INTO vouchers_v3 (id, hotspot_id, voucher_code, voucher_type, duration_minutes,
    data_limit_mb, plan_id, price, currency, max_devices, expiry_date, is_used, used_at,
    used_by_mac, payment_reference, mpesa_receipt_number, created_at)
SELECT id, hotspot_id, voucher_code, voucher_type, duration_minutes, data_limit_mb, plan_id,
    price, currency, max_devices, expiry_date, is_used, used_at, used_by_mac, payment_reference,
    mpesa_receipt_number, created_at FROM vouchers;
DROP TABLE vouchers;
ALTER TABLE vouchers_v3 RENAME TO vouchers;
CREATE INDEX vouchers_unused ON vouchers (is_used) WHERE is_used = 0;

-- Sessions: ended as 'refused'; the boot clock at the start (for an exact duration); when the
-- last session_updated event was written (they are rate-limited).
CREATE TABLE sessions_v3 (
    id                  TEXT PRIMARY KEY NOT NULL,
    mac_address         TEXT NOT NULL CHECK (length(mac_address) = 17),
    ip_address          TEXT,
    device_fingerprint  TEXT,
    session_type        TEXT NOT NULL DEFAULT 'guest'
                        CHECK (session_type IN ('guest', 'client', 'voucher')),
    session_status      TEXT NOT NULL DEFAULT 'active' CHECK (session_status IN ('active', 'ended')),
    end_reason          TEXT CHECK (end_reason IN ('time', 'data', 'idle', 'logout', 'kick',
                                                   'blocked', 'refused')),
    start_time          INTEGER NOT NULL,
    end_time            INTEGER,
    duration_minutes    INTEGER,
    voucher_id          TEXT REFERENCES vouchers (id),
    voucher_code        TEXT,
    user_agent          TEXT,
    ends_at             INTEGER,
    data_limit_bytes    INTEGER,
    down_kbps           INTEGER NOT NULL DEFAULT 0,
    up_kbps             INTEGER NOT NULL DEFAULT 0,
    bytes_up            INTEGER NOT NULL DEFAULT 0,
    bytes_down          INTEGER NOT NULL DEFAULT 0,
    counter_up          INTEGER NOT NULL DEFAULT 0,
    counter_down        INTEGER NOT NULL DEFAULT 0,
    last_activity       INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    start_boot_id       TEXT,      -- the EdgeClock at the start
    start_uptime_ms     INTEGER,
    update_sent_at      INTEGER    -- unix seconds of the last session_updated event
) STRICT;
INSERT INTO sessions_v3 (id, mac_address, ip_address, device_fingerprint, session_type,
    session_status, end_reason, start_time, end_time, duration_minutes, voucher_id, voucher_code,
    user_agent, ends_at, data_limit_bytes, down_kbps, up_kbps, bytes_up, bytes_down, counter_up,
    counter_down, last_activity, created_at)
SELECT id, mac_address, ip_address, device_fingerprint, session_type, session_status,
    end_reason, start_time, end_time, duration_minutes, voucher_id, voucher_code, user_agent,
    ends_at, data_limit_bytes, down_kbps, up_kbps, bytes_up, bytes_down, counter_up,
    counter_down, last_activity, created_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v3 RENAME TO sessions;
CREATE UNIQUE INDEX sessions_one_active_per_mac ON sessions (mac_address)
    WHERE session_status = 'active';
CREATE INDEX sessions_voucher ON sessions (voucher_id);
CREATE INDEX sessions_start ON sessions (start_time);

-- The outbox of protocol events (`hotspot_shared::sync::Event` as JSON), oldest first. `bytes`
-- is the event's size, for the outbox bound; `droppable` marks the kinds that may be dropped
-- when the bound is reached (EventBody::is_droppable).
CREATE TABLE outbox_v3 (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    droppable  INTEGER NOT NULL CHECK (droppable IN (0, 1)),
    session_id TEXT,   -- of session events: a newer session_updated replaces an unsent one
    event      TEXT NOT NULL CHECK (json_valid(event)),
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_droppable ON outbox_v3 (seq) WHERE droppable = 1;
CREATE INDEX outbox_updates ON outbox_v3 (session_id) WHERE kind = 'session_updated';

-- Rows of the old outbox (never sent: the daemon had no sync loop) become protocol events with
-- the same id. The boot they were recorded in is unknown (nil boot id); their wall clock is
-- trusted when it is after 2026-11-01, the start of this product. 'access.blocked' has no
-- protocol event (the session_ended of the blocked device's session carries it) and is dropped.
INSERT INTO outbox_v3 (id, kind, droppable, session_id, event, bytes, created_at)
SELECT id, kind, 0, session_id, event, length(event), created_at FROM (
    SELECT seq, id, created_at, kind, session_id, json_object(
            'id', id,
            'at', json_object('boot_id', '00000000-0000-0000-0000-000000000000',
                              'uptime_ms', 0,
                              'wall_ms', created_at * 1000,
                              'wall_trusted', json(CASE WHEN created_at >= 1793491200
                                                        THEN 'true' ELSE 'false' END)),
            'kind', kind,
            'data', CASE kind
                WHEN 'session_started' THEN json_object(
                    'session_id', session_id,
                    'mac', payload ->> 'mac_address',
                    'ip', payload ->> 'ip_address',
                    'session_type', payload ->> 'session_type',
                    'voucher_code', payload ->> 'voucher_code',
                    'access_id', NULL, 'device_fingerprint', NULL, 'user_agent', NULL)
                WHEN 'session_ended' THEN json_object(
                    'session_id', session_id,
                    'reason', CASE payload ->> 'end_reason'
                        WHEN 'time' THEN 'time_used_up' WHEN 'data' THEN 'data_used_up'
                        WHEN 'idle' THEN 'idle' WHEN 'logout' THEN 'logout'
                        ELSE 'kicked' END,
                    'bytes_up', coalesce(payload ->> 'bytes_up', 0),
                    'bytes_down', coalesce(payload ->> 'bytes_down', 0),
                    'duration_s', coalesce(payload ->> 'duration_minutes', 0) * 60)
                ELSE json_object(
                    'voucher_code', payload ->> 'voucher_code',
                    'mac', payload ->> 'mac_address',
                    'session_id', session_id)
            END) AS event
    FROM (
        SELECT o.seq, o.id, o.created_at, o.payload,
            CASE o.kind WHEN 'session.started' THEN 'session_started'
                        WHEN 'session.ended' THEN 'session_ended'
                        ELSE 'voucher_redeemed' END AS kind,
            CASE WHEN o.kind = 'voucher.redeemed' THEN
                (SELECT s.id FROM sessions s
                  WHERE s.voucher_code = o.payload ->> 'voucher_code'
                    AND s.mac_address = o.payload ->> 'mac_address'
                  ORDER BY abs(s.start_time - (o.payload ->> 'redeemed_at')) LIMIT 1)
            ELSE o.payload ->> 'session_id' END AS session_id
        FROM outbox o
        WHERE o.kind IN ('session.started', 'session.ended', 'voucher.redeemed')
    )
    WHERE session_id IS NOT NULL
    ORDER BY seq
);
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;

-- Sync bookkeeping: the pull cursor, counters shown by `hotspotd status`, when periodic events
-- were last written.
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY NOT NULL
) STRICT;

-- Devices seen on the LAN: a mac_seen event is written the first time (and again after a long
-- absence); rows not seen for long are pruned.
CREATE TABLE macs_seen (
    mac_address TEXT PRIMARY KEY NOT NULL CHECK (length(mac_address) = 17),
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
