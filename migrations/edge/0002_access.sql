-- Plans, vouchers, the MAC access list, sessions, daily analytics and the cloud outbox.
-- Columns follow seed 000 (hotspot_vouchers, client_hotspot_access, hotspot_sessions,
-- hotspot_analytics) where the edge keeps the same facts. Times are unix seconds (UTC); ids are
-- UUID text so rows keep their identity when synced to the cloud.

-- Packages a guest can buy; vouchers name one for their rates.
CREATE TABLE plans (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    duration_minutes INTEGER CHECK (duration_minutes > 0),
    data_limit_mb    INTEGER CHECK (data_limit_mb > 0),
    down_kbps        INTEGER NOT NULL DEFAULT 0 CHECK (down_kbps >= 0), -- 0: unlimited
    up_kbps          INTEGER NOT NULL DEFAULT 0 CHECK (up_kbps >= 0),
    price            TEXT NOT NULL DEFAULT '0',   -- decimal, as NUMERIC in the cloud
    currency         TEXT NOT NULL DEFAULT 'KES' CHECK (length(currency) = 3),
    is_active        INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE vouchers (
    id                   TEXT PRIMARY KEY NOT NULL,
    hotspot_id           TEXT,   -- NULL: imported on this router, valid here only
    voucher_code         TEXT NOT NULL UNIQUE CHECK (length(voucher_code) BETWEEN 4 AND 32),
    voucher_type         TEXT NOT NULL DEFAULT 'time_based'
                         CHECK (voucher_type IN ('time_based', 'data_based')),
    duration_minutes     INTEGER CHECK (duration_minutes > 0),
    data_limit_mb        INTEGER CHECK (data_limit_mb > 0),
    plan_id              TEXT REFERENCES plans (id),
    price                TEXT NOT NULL DEFAULT '0',
    currency             TEXT NOT NULL DEFAULT 'KES',
    max_devices          INTEGER NOT NULL DEFAULT 1 CHECK (max_devices >= 1),
    expiry_date          INTEGER,
    is_used              INTEGER NOT NULL DEFAULT 0 CHECK (is_used IN (0, 1)),
    used_at              INTEGER,
    used_by_mac          TEXT,   -- the first device
    payment_reference    TEXT,
    mpesa_receipt_number TEXT,
    created_at           INTEGER NOT NULL,
    CHECK (voucher_type <> 'time_based' OR duration_minutes IS NOT NULL),
    CHECK (voucher_type <> 'data_based' OR data_limit_mb IS NOT NULL)
) STRICT;
CREATE INDEX vouchers_unused ON vouchers (is_used) WHERE is_used = 0;

-- Every device that redeemed a voucher (max_devices counts these).
CREATE TABLE voucher_redemptions (
    voucher_id  TEXT NOT NULL REFERENCES vouchers (id),
    mac_address TEXT NOT NULL CHECK (length(mac_address) = 17),
    redeemed_at INTEGER NOT NULL,
    PRIMARY KEY (voucher_id, mac_address)
) STRICT;

-- client_hotspot_access: registered devices (auto-connect) and blocked ones.
CREATE TABLE access_list (
    id                   TEXT PRIMARY KEY NOT NULL,
    client_id            TEXT,
    mac_address          TEXT NOT NULL UNIQUE CHECK (length(mac_address) = 17),
    device_name          TEXT,
    device_type          TEXT,
    auto_connect         INTEGER NOT NULL DEFAULT 1 CHECK (auto_connect IN (0, 1)),
    bandwidth_allocation INTEGER DEFAULT 5,   -- Mbit/s each way
    access_level         TEXT NOT NULL DEFAULT 'standard',
    first_connected_at   INTEGER,
    last_connected_at    INTEGER,
    total_sessions       INTEGER NOT NULL DEFAULT 0,
    total_data_used_mb   REAL NOT NULL DEFAULT 0,
    is_blocked           INTEGER NOT NULL DEFAULT 0 CHECK (is_blocked IN (0, 1)),
    blocked_reason       TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

-- hotspot_sessions, plus what enforcement needs to restore a session after a restart.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    mac_address         TEXT NOT NULL CHECK (length(mac_address) = 17),
    ip_address          TEXT,
    device_fingerprint  TEXT,
    session_type        TEXT NOT NULL DEFAULT 'guest'
                        CHECK (session_type IN ('guest', 'client', 'voucher')),
    session_status      TEXT NOT NULL DEFAULT 'active' CHECK (session_status IN ('active', 'ended')),
    end_reason          TEXT CHECK (end_reason IN ('time', 'data', 'idle', 'logout', 'kick', 'blocked')),
    start_time          INTEGER NOT NULL,
    end_time            INTEGER,
    duration_minutes    INTEGER,
    voucher_id          TEXT REFERENCES vouchers (id),
    voucher_code        TEXT,
    user_agent          TEXT,
    ends_at             INTEGER,   -- time limit (absolute), NULL: none
    data_limit_bytes    INTEGER,   -- data limit (of the voucher, shared), NULL: none
    down_kbps           INTEGER NOT NULL DEFAULT 0,
    up_kbps             INTEGER NOT NULL DEFAULT 0,
    bytes_up            INTEGER NOT NULL DEFAULT 0,
    bytes_down          INTEGER NOT NULL DEFAULT 0,
    counter_up          INTEGER NOT NULL DEFAULT 0,  -- last firewall counter reading
    counter_down        INTEGER NOT NULL DEFAULT 0,
    last_activity       INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX sessions_one_active_per_mac ON sessions (mac_address)
    WHERE session_status = 'active';
CREATE INDEX sessions_voucher ON sessions (voucher_id);
CREATE INDEX sessions_start ON sessions (start_time);

-- hotspot_analytics, one row per UTC day.
CREATE TABLE analytics_daily (
    date                         TEXT PRIMARY KEY NOT NULL,  -- YYYY-MM-DD
    total_sessions               INTEGER NOT NULL DEFAULT 0,
    unique_users                 INTEGER NOT NULL DEFAULT 0,
    total_data_used_gb           REAL NOT NULL DEFAULT 0,
    peak_concurrent_users        INTEGER NOT NULL DEFAULT 0,
    avg_session_duration_minutes REAL NOT NULL DEFAULT 0,
    ended_sessions               INTEGER NOT NULL DEFAULT 0,
    guest_sessions               INTEGER NOT NULL DEFAULT 0,
    client_sessions              INTEGER NOT NULL DEFAULT 0,
    voucher_sessions             INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE analytics_daily_devices (
    date        TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    PRIMARY KEY (date, mac_address)
) STRICT, WITHOUT ROWID;

-- Events for the cloud, sent in order and deleted once acknowledged. The id makes a resend
-- idempotent.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    created_at INTEGER NOT NULL
);
