-- M-Pesa purchases started from this portal. The cloud runs the payment; the edge keeps what it
-- needs to show the guest where it stands, to keep polling after a restart, and to let the
-- guest in when it is paid. The phone number itself is not kept, only a hint to show.
CREATE TABLE purchases (
    id           TEXT PRIMARY KEY NOT NULL,   -- the cloud's purchase id
    request_id   TEXT NOT NULL UNIQUE,        -- the portal form's idempotency key
    mac_address  TEXT NOT NULL CHECK (length(mac_address) = 17),
    ip_address   TEXT,
    plan_id      TEXT NOT NULL,
    phone_hint   TEXT NOT NULL,               -- 0712 *** 678
    amount_kes   INTEGER NOT NULL CHECK (amount_kes >= 0),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    failure      TEXT,                        -- PaymentFailure, snake_case
    voucher_code TEXT,
    receipt      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CHECK (status <> 'paid' OR voucher_code IS NOT NULL),
    CHECK (status <> 'failed' OR failure IS NOT NULL)
) STRICT;
CREATE INDEX purchases_pending ON purchases (created_at) WHERE status = 'pending';
CREATE INDEX purchases_by_mac ON purchases (mac_address, created_at);
