-- Seed 000's hotspot domain: sites, their sessions, registered client devices (MAC auto-connect),
-- vouchers and daily analytics; plus the credentials of the router that runs each site.

CREATE TABLE hotspots (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    location TEXT NOT NULL,
    latitude NUMERIC,
    longitude NUMERIC,
    status VARCHAR(50) NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'maintenance', 'offline')),
    hardware_details JSONB,
    ip_address INET,
    mac_address VARCHAR(17),
    ssid VARCHAR(255) NOT NULL,
    password VARCHAR(255),
    bandwidth_limit INTEGER DEFAULT 10,
    max_concurrent_users INTEGER DEFAULT 50,
    coverage_radius INTEGER DEFAULT 100,
    installation_date DATE,
    last_maintenance_date DATE,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX idx_hotspots_company ON hotspots(tenant_id);
CREATE INDEX idx_hotspots_status ON hotspots(status);
CREATE INDEX idx_hotspots_location ON hotspots(location);

-- The router of a hotspot (flow 6, provisioning): an operator creates a one-time claim code, the
-- router claims it and receives a device token. Only SHA-256 hashes are stored. A token is
-- presented before its tenant is known: device_token_lookup() resolves it (SECURITY DEFINER).
CREATE TABLE hotspot_devices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    claim_code_hash BYTEA UNIQUE,
    claim_expires_at TIMESTAMPTZ,
    claimed_at TIMESTAMPTZ,
    token_hash BYTEA UNIQUE,
    hostname VARCHAR(255),
    platform VARCHAR(100),
    software_version VARCHAR(50),
    last_seen_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID,
    UNIQUE (tenant_id, id),
    CHECK (claim_code_hash IS NULL OR octet_length(claim_code_hash) = 32),
    CHECK (token_hash IS NULL OR octet_length(token_hash) = 32),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_hotspot_devices_hotspot ON hotspot_devices(tenant_id, hotspot_id);

-- Sessions, partitioned by the month of start_time (UTC): the table grows with every guest, and
-- old months are detached or dropped whole. The key is (id, start_time) because a partitioned
-- table's unique keys must include the partition key; a session's start never changes, so the
-- edge sync upserts ON CONFLICT (id, start_time). The default partition takes sessions of a
-- month without a partition (e.g. a router that was offline for weeks); the daily job creates
-- months ahead with create_monthly_partitions('hotspot_sessions').
CREATE TABLE hotspot_sessions (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    client_id UUID,
    mac_address VARCHAR(17) NOT NULL,
    device_fingerprint TEXT,
    session_type VARCHAR(20) NOT NULL DEFAULT 'guest'
        CHECK (session_type IN ('guest', 'client', 'voucher', 'mpesa')),
    start_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    end_time TIMESTAMPTZ,
    duration_minutes INTEGER,
    data_used_mb NUMERIC DEFAULT 0,
    bandwidth_used_mbps NUMERIC DEFAULT 0,
    session_status VARCHAR(20) NOT NULL DEFAULT 'active'
        CHECK (session_status IN ('active', 'ended', 'expired', 'terminated')),
    ip_address INET,
    user_agent TEXT,
    payment_reference VARCHAR(255),
    voucher_code VARCHAR(50),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (id, start_time),
    CHECK (end_time IS NULL OR end_time >= start_time),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
        ON DELETE SET NULL (client_id)
) PARTITION BY RANGE (start_time);
CREATE INDEX idx_hotspot_sessions_hotspot ON hotspot_sessions(hotspot_id);
CREATE INDEX idx_hotspot_sessions_client ON hotspot_sessions(client_id);
CREATE INDEX idx_hotspot_sessions_mac ON hotspot_sessions(mac_address);
CREATE INDEX idx_hotspot_sessions_active ON hotspot_sessions(tenant_id, hotspot_id)
    WHERE session_status = 'active';
CREATE INDEX idx_hotspot_sessions_time ON hotspot_sessions(start_time);
CREATE TABLE hotspot_sessions_default PARTITION OF hotspot_sessions DEFAULT;

-- Registered devices of clients (flow 3, MAC auto-connect).
CREATE TABLE client_hotspot_access (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id UUID NOT NULL,
    hotspot_id UUID NOT NULL,
    mac_address VARCHAR(17) NOT NULL
        CHECK (mac_address ~ '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'),
    device_name VARCHAR(255),
    device_type VARCHAR(50),
    auto_connect BOOLEAN NOT NULL DEFAULT true,
    bandwidth_allocation INTEGER DEFAULT 5,
    access_level VARCHAR(20) NOT NULL DEFAULT 'standard'
        CHECK (access_level IN ('basic', 'standard', 'premium', 'unlimited')),
    first_connected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_connected_at TIMESTAMPTZ,
    total_sessions INTEGER DEFAULT 0,
    total_data_used_mb NUMERIC DEFAULT 0,
    is_blocked BOOLEAN NOT NULL DEFAULT false,
    blocked_reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (client_id, hotspot_id, mac_address),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_client_hotspot_access_client ON client_hotspot_access(client_id);
CREATE INDEX idx_client_hotspot_access_hotspot ON client_hotspot_access(hotspot_id);
CREATE INDEX idx_client_hotspot_access_mac ON client_hotspot_access(mac_address);

-- Vouchers. Codes are unique across tenants: a guest types only the code, and FreeRADIUS's stock
-- queries look usernames up without a tenant.
CREATE TABLE hotspot_vouchers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    voucher_code VARCHAR(20) NOT NULL UNIQUE,
    voucher_type VARCHAR(20) NOT NULL DEFAULT 'time_based'
        CHECK (voucher_type IN ('time_based', 'data_based', 'unlimited')),
    duration_minutes INTEGER CHECK (duration_minutes > 0),
    data_limit_mb INTEGER CHECK (data_limit_mb > 0),
    price NUMERIC NOT NULL DEFAULT 0 CHECK (price >= 0),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    max_devices INTEGER DEFAULT 1 CHECK (max_devices > 0),
    expiry_date TIMESTAMPTZ,
    is_used BOOLEAN NOT NULL DEFAULT false,
    used_at TIMESTAMPTZ,
    used_by_mac VARCHAR(17),
    payment_reference VARCHAR(255),
    mpesa_receipt_number VARCHAR(255),
    generated_by UUID,
    service_package_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (voucher_type <> 'time_based' OR duration_minutes IS NOT NULL),
    CHECK (voucher_type <> 'data_based' OR data_limit_mb IS NOT NULL),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, generated_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (generated_by),
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id)
);
CREATE INDEX idx_hotspot_vouchers_code ON hotspot_vouchers(voucher_code);
CREATE INDEX idx_hotspot_vouchers_hotspot ON hotspot_vouchers(hotspot_id);
CREATE INDEX idx_hotspot_vouchers_unused ON hotspot_vouchers(tenant_id, hotspot_id)
    WHERE NOT is_used;

CREATE TABLE hotspot_analytics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    date DATE NOT NULL,
    total_sessions INTEGER DEFAULT 0,
    unique_users INTEGER DEFAULT 0,
    total_data_used_gb NUMERIC DEFAULT 0,
    peak_concurrent_users INTEGER DEFAULT 0,
    avg_session_duration_minutes NUMERIC DEFAULT 0,
    revenue_generated NUMERIC DEFAULT 0,
    uptime_percentage NUMERIC DEFAULT 100 CHECK (uptime_percentage BETWEEN 0 AND 100),
    bandwidth_utilization_percentage NUMERIC DEFAULT 0,
    guest_sessions INTEGER DEFAULT 0,
    client_sessions INTEGER DEFAULT 0,
    voucher_sessions INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (hotspot_id, date),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_hotspot_analytics_hotspot_date ON hotspot_analytics(hotspot_id, date);
CREATE INDEX idx_hotspot_analytics_company_date ON hotspot_analytics(tenant_id, date);

SELECT hotspot_secure_tables();
-- Last month, this month and three ahead.
SELECT create_monthly_partitions('hotspot_sessions', 4, now() - interval '1 month');
