-- Seed 004's network side: bandwidth profiles, subscribers, IP pools and allocations, devices,
-- VPN tunnels, FTTH (OLTs, ONUs, splitters, fiber cables), wireless (towers, sectors, customer
-- radios), service activations and automation jobs. Columns, defaults, uniques and indexes as the
-- seed gives them; its VARCHAR user and tenant ids are UUIDs here (users.id and tenants.id are),
-- and its references between tenant tables are composite, (tenant_id, x_id) → (tenant_id, id).

CREATE TABLE bandwidth_profiles (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Profile details
    name VARCHAR(100) NOT NULL,
        -- e.g., '10M', '50M', '100M', '1G'
    description TEXT,

    -- Speed limits (in Mbps)
    download_mbps INTEGER NOT NULL,
    upload_mbps INTEGER NOT NULL,

    -- Burst speeds (optional)
    download_burst_mbps INTEGER,
    upload_burst_mbps INTEGER,
    burst_threshold_mbps INTEGER,
    burst_time_seconds INTEGER,

    -- Priority (for QoS)
    priority INTEGER DEFAULT 5,
        -- 1 (highest) to 10 (lowest)

    -- Limits
    monthly_data_cap_gb INTEGER,
        -- NULL = unlimited
    daily_data_cap_gb INTEGER,

    -- Status
    is_active BOOLEAN DEFAULT TRUE,

    -- RADIUS attribute template
    radius_attributes JSONB DEFAULT '{}'::JSONB,
        -- { "Mikrotik-Rate-Limit": "10M/10M 20M/20M" }

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE INDEX idx_bandwidth_profiles_tenant ON bandwidth_profiles(tenant_id)
    WHERE deleted_at IS NULL;

CREATE TABLE subscribers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    customer_id UUID,
        -- Link to existing customer_management module

    -- Subscriber identification
    subscriber_number VARCHAR(50) UNIQUE NOT NULL,
        -- e.g., 'SUB-000001'

    -- Service details
    service_type VARCHAR(50) NOT NULL
        CHECK (service_type IN ('ftth', 'wireless', 'dsl', 'cable')),
    connection_type VARCHAR(50)
        CHECK (connection_type IN ('pppoe', 'dhcp', 'static_ip', 'hotspot')),
    -- Status
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'active', 'suspended', 'terminated', 'on_hold')),
    suspension_reason VARCHAR(255),

    -- Service address (installation location)
    service_address_line1 VARCHAR(255),
    service_address_line2 VARCHAR(255),
    service_address_city VARCHAR(100),
    service_address_state VARCHAR(100),
    service_address_postal_code VARCHAR(20),
    service_address_country VARCHAR(100),
    service_location_lat NUMERIC(10,8),
    service_location_lng NUMERIC(11,8),

    -- Installation
    installation_status VARCHAR(50)
        CHECK (installation_status IN ('not_scheduled', 'scheduled', 'in_progress', 'completed', 'failed')),
    installation_date DATE,
    installed_by UUID,
        -- User ID of field tech
    installation_notes TEXT,

    -- Network details
    bandwidth_profile_id UUID,
    static_ip_address INET,
    vlan_id INTEGER,

    -- RADIUS credentials
    pppoe_username VARCHAR(64),
    pppoe_password VARCHAR(64),
    mac_address VARCHAR(17),

    -- Usage tracking
    monthly_data_usage_gb NUMERIC(12,2) DEFAULT 0,
    last_usage_reset_date DATE,

    -- Service dates
    service_activated_at TIMESTAMPTZ,
    service_suspended_at TIMESTAMPTZ,
    service_terminated_at TIMESTAMPTZ,

    -- Billing
    billing_subscription_id UUID,
        -- Link to billing module
    billing_cycle_day INTEGER DEFAULT 1,
        -- Day of month for billing

    -- Notes
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE SET NULL (customer_id),
    FOREIGN KEY (tenant_id, bandwidth_profile_id) REFERENCES bandwidth_profiles (tenant_id, id),
    FOREIGN KEY (tenant_id, billing_subscription_id) REFERENCES billing_subscriptions (tenant_id, id)
        ON DELETE SET NULL (billing_subscription_id)
);

CREATE INDEX idx_subscribers_tenant ON subscribers(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_subscribers_status ON subscribers(status) WHERE deleted_at IS NULL;
CREATE INDEX idx_subscribers_number ON subscribers(subscriber_number);
CREATE INDEX idx_subscribers_customer ON subscribers(customer_id);
CREATE INDEX idx_subscribers_location ON subscribers USING GIST (
    point(service_location_lng, service_location_lat)
);

CREATE TABLE ip_pools (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Pool details
    name VARCHAR(100) NOT NULL,
    description TEXT,

    -- Network
    network_cidr CIDR NOT NULL,
        -- e.g., '10.100.0.0/16'
    gateway INET,
    dns_primary INET,
    dns_secondary INET,

    -- Range
    start_ip INET NOT NULL,
    end_ip INET NOT NULL,

    -- Usage
    total_ips INTEGER NOT NULL,
    allocated_ips INTEGER DEFAULT 0,
    available_ips INTEGER NOT NULL,

    -- Type
    pool_type VARCHAR(50) DEFAULT 'dynamic'
        CHECK (pool_type IN ('dynamic', 'static', 'reserved')),
    -- VLAN
    vlan_id INTEGER,

    -- Status
    is_active BOOLEAN DEFAULT TRUE,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE INDEX idx_ip_pools_tenant ON ip_pools(tenant_id) WHERE deleted_at IS NULL;

CREATE TABLE ip_allocations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ip_pool_id UUID NOT NULL,
    subscriber_id UUID,

    -- Allocation
    ip_address INET NOT NULL,
    mac_address VARCHAR(17),

    -- Status
    status VARCHAR(50) DEFAULT 'allocated'
        CHECK (status IN ('allocated', 'active', 'reserved', 'released')),
    -- Lease (for DHCP)
    lease_start TIMESTAMPTZ,
    lease_end TIMESTAMPTZ,

    -- Audit
    allocated_at TIMESTAMPTZ DEFAULT NOW(),
    released_at TIMESTAMPTZ,
    created_by UUID,

    UNIQUE(tenant_id, ip_address),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, ip_pool_id) REFERENCES ip_pools (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE SET NULL (subscriber_id)
);

CREATE INDEX idx_ip_allocations_tenant ON ip_allocations(tenant_id);
CREATE INDEX idx_ip_allocations_pool ON ip_allocations(ip_pool_id);
CREATE INDEX idx_ip_allocations_subscriber ON ip_allocations(subscriber_id);
CREATE INDEX idx_ip_allocations_ip ON ip_allocations(ip_address);

CREATE TABLE devices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Device identification
    name VARCHAR(100) NOT NULL,
    device_type VARCHAR(50) NOT NULL
        CHECK (device_type IN ('olt', 'router', 'switch', 'wireless_ap', 'tower', 'cpe', 'onu')),
    vendor VARCHAR(100),
        -- 'Huawei', 'ZTE', 'Nokia', 'Mikrotik', 'Cisco', 'Ubiquiti', 'Cambium'
    model VARCHAR(100),
    serial_number VARCHAR(100),

    -- Network
    primary_ip INET,
    management_ip INET,
    mac_address VARCHAR(17),

    -- Location
    site_name VARCHAR(100),
    location_address TEXT,
    location_lat NUMERIC(10,8),
    location_lng NUMERIC(11,8),
    rack_location VARCHAR(50),

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'maintenance', 'failed')),
    operational_status VARCHAR(50)
        CHECK (operational_status IN ('online', 'offline', 'degraded')),
    -- Management credentials (reference to vault)
    credentials_vault_path VARCHAR(255),

    -- SNMP
    snmp_community VARCHAR(100),
    snmp_version VARCHAR(10) DEFAULT 'v2c'
        CHECK (snmp_version IN ('v1', 'v2c', 'v3')),
    -- External system references
    netbox_id INTEGER,
        -- ID in NetBox
    voltha_id VARCHAR(255),
        -- ID in VOLTHA (for OLTs)

    -- Capacity
    port_count INTEGER,
    ports_used INTEGER DEFAULT 0,

    -- Metadata
    firmware_version VARCHAR(100),
    hardware_version VARCHAR(100),
    notes TEXT,
    config_backup_path VARCHAR(500),
    last_config_backup TIMESTAMPTZ,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE INDEX idx_devices_tenant ON devices(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_devices_type ON devices(device_type) WHERE deleted_at IS NULL;
CREATE INDEX idx_devices_status ON devices(status);
CREATE INDEX idx_devices_location ON devices USING GIST (
    point(location_lng, location_lat)
) WHERE deleted_at IS NULL;

CREATE TABLE vpn_tunnels (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    device_id UUID,
        -- OLT or router using the tunnel

    -- Tunnel details
    tunnel_name VARCHAR(100) NOT NULL,
    tunnel_type VARCHAR(50) DEFAULT 'wireguard'
        CHECK (tunnel_type IN ('wireguard', 'ipsec', 'openvpn')),
    -- WireGuard specific
    public_key TEXT,
    private_key_vault_path VARCHAR(255),
        -- Path in vault (never store in DB!)

    -- Network
    vpn_ip INET NOT NULL,
        -- IP assigned to peer
    vpn_network CIDR,
        -- Allowed IPs

    -- Endpoint
    server_endpoint VARCHAR(255),
        -- 'vpn.example.com:51820'
    peer_endpoint VARCHAR(255),
        -- Last known peer endpoint

    -- Status
    status VARCHAR(50) DEFAULT 'configured'
        CHECK (status IN ('configured', 'active', 'disconnected', 'error')),
    last_handshake TIMESTAMPTZ,

    -- Statistics
    data_rx_bytes BIGINT DEFAULT 0,
    data_tx_bytes BIGINT DEFAULT 0,

    -- Configuration
    config_generated_at TIMESTAMPTZ,
    config_downloaded_at TIMESTAMPTZ,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, vpn_ip),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX idx_vpn_tunnels_tenant ON vpn_tunnels(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_vpn_tunnels_device ON vpn_tunnels(device_id);
CREATE INDEX idx_vpn_tunnels_status ON vpn_tunnels(status);

CREATE TABLE olts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id UUID NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- OLT specific details
    olt_type VARCHAR(50)
        CHECK (olt_type IN ('gpon', 'xgspon', 'epon', 'xgepon')),
    max_pon_ports INTEGER,
    active_pon_ports INTEGER DEFAULT 0,

    -- VOLTHA
    voltha_device_id VARCHAR(255),
    voltha_parent_id VARCHAR(255),

    -- Capacity
    total_onu_capacity INTEGER,
        -- Max ONUs supported
    active_onus INTEGER DEFAULT 0,

    -- Management
    management_protocol VARCHAR(50)
        CHECK (management_protocol IN ('snmp', 'ssh', 'telnet', 'netconf', 'voltha')),
    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX idx_olts_tenant ON olts(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_olts_device ON olts(device_id);

CREATE TABLE onus (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    olt_id UUID NOT NULL,
    subscriber_id UUID,

    -- ONU identification
    serial_number VARCHAR(100) NOT NULL,
    vendor VARCHAR(100),
    model VARCHAR(100),

    -- PON details
    pon_port INTEGER NOT NULL,
        -- PON port on OLT (0-15 typically)
    onu_id INTEGER NOT NULL,
        -- ONU ID on PON port (0-127 typically)

    -- Status
    status VARCHAR(50) DEFAULT 'discovered'
        CHECK (status IN ('discovered', 'provisioned', 'active', 'offline', 'failed')),
    admin_status VARCHAR(50) DEFAULT 'disabled'
        CHECK (admin_status IN ('enabled', 'disabled')),
    operational_status VARCHAR(50)
        CHECK (operational_status IN ('up', 'down', 'degraded')),
    -- Optical metrics
    rx_power_dbm NUMERIC(6,2),
        -- Received optical power
    tx_power_dbm NUMERIC(6,2),
        -- Transmitted optical power
    distance_meters INTEGER,
        -- Distance from OLT

    -- Service
    service_profile VARCHAR(100),
    vlan_id INTEGER,

    -- TR-069 (if ONU supports it)
    acs_url VARCHAR(255),
        -- GenieACS URL
    acs_username VARCHAR(100),
    acs_password_vault_path VARCHAR(255),

    -- CPE details (if integrated router)
    wifi_ssid VARCHAR(64),
    wifi_password_vault_path VARCHAR(255),
    lan_ip INET,

    -- External references
    voltha_device_id VARCHAR(255),
    genieacs_device_id VARCHAR(255),

    -- Metrics
    last_seen TIMESTAMPTZ,
    uptime_seconds BIGINT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, serial_number),
    UNIQUE(olt_id, pon_port, onu_id),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, olt_id) REFERENCES olts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE SET NULL (subscriber_id)
);

CREATE INDEX idx_onus_tenant ON onus(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_onus_olt ON onus(olt_id);
CREATE INDEX idx_onus_subscriber ON onus(subscriber_id);
CREATE INDEX idx_onus_status ON onus(status);
CREATE INDEX idx_onus_serial ON onus(serial_number);

CREATE TABLE splitters (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    olt_id UUID,

    -- Splitter details
    name VARCHAR(100) NOT NULL,
    split_ratio VARCHAR(20) NOT NULL
        CHECK (split_ratio IN ('1x2', '1x4', '1x8', '1x16', '1x32', '1x64')),
    splitter_type VARCHAR(50) DEFAULT 'plc',
        -- 'plc' (Planar Lightwave Circuit), 'fbt' (Fused Biconical Taper)

    -- Location
    location_name VARCHAR(100),
    location_address TEXT,
    location_lat NUMERIC(10,8),
    location_lng NUMERIC(11,8),
    installation_type VARCHAR(50)
        CHECK (installation_type IN ('pole_mount', 'underground', 'indoor', 'nap', 'fdh')),
    -- Capacity
    input_ports INTEGER DEFAULT 1,
    output_ports INTEGER NOT NULL,
    ports_used INTEGER DEFAULT 0,

    -- Upstream connection
    parent_splitter_id UUID,
    parent_output_port INTEGER,

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'maintenance')),
    -- Metadata
    installation_date DATE,
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, olt_id) REFERENCES olts (tenant_id, id) ON DELETE SET NULL (olt_id),
    FOREIGN KEY (tenant_id, parent_splitter_id) REFERENCES splitters (tenant_id, id) ON DELETE SET NULL (parent_splitter_id)
);

CREATE INDEX idx_splitters_tenant ON splitters(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_splitters_olt ON splitters(olt_id);
CREATE INDEX idx_splitters_location ON splitters USING GIST (
    point(location_lng, location_lat)
) WHERE deleted_at IS NULL;

CREATE TABLE fiber_cables (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Cable details
    cable_name VARCHAR(100) NOT NULL,
    cable_type VARCHAR(50)
        CHECK (cable_type IN ('single_mode', 'multi_mode', 'armored', 'aerial', 'underground')),
    fiber_count INTEGER NOT NULL,
        -- Number of fiber strands

    -- Endpoints
    start_device_id UUID,
    start_device_port VARCHAR(50),
    start_location_name VARCHAR(100),
    start_location_lat NUMERIC(10,8),
    start_location_lng NUMERIC(11,8),

    end_device_id UUID,
    end_device_port VARCHAR(50),
    end_location_name VARCHAR(100),
    end_location_lat NUMERIC(10,8),
    end_location_lng NUMERIC(11,8),

    -- Physical characteristics
    length_meters NUMERIC(10,2),
    color_code VARCHAR(50),
    installation_method VARCHAR(50)
        CHECK (installation_method IN ('aerial', 'underground', 'duct', 'direct_burial')),
    -- Path (for mapping)
    geojson_path JSONB,
        -- GeoJSON LineString of cable route

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'damaged', 'maintenance')),
    -- Metadata
    installation_date DATE,
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, cable_name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, start_device_id) REFERENCES devices (tenant_id, id) ON DELETE SET NULL (start_device_id),
    FOREIGN KEY (tenant_id, end_device_id) REFERENCES devices (tenant_id, id) ON DELETE SET NULL (end_device_id)
);

CREATE INDEX idx_fiber_cables_tenant ON fiber_cables(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_fiber_cables_start_device ON fiber_cables(start_device_id);
CREATE INDEX idx_fiber_cables_end_device ON fiber_cables(end_device_id);

CREATE TABLE wireless_towers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Tower details
    name VARCHAR(100) NOT NULL,
    tower_type VARCHAR(50)
        CHECK (tower_type IN ('monopole', 'guyed', 'lattice', 'rooftop', 'water_tower')),
    height_meters NUMERIC(6,2),

    -- Location
    site_address TEXT,
    latitude NUMERIC(10,8) NOT NULL,
    longitude NUMERIC(11,8) NOT NULL,
    elevation_meters NUMERIC(8,2),

    -- Access
    access_notes TEXT,
    site_contact_name VARCHAR(100),
    site_contact_phone VARCHAR(50),

    -- Power
    power_type VARCHAR(50)
        CHECK (power_type IN ('grid', 'solar', 'generator', 'battery_backup')),
    has_backup_power BOOLEAN DEFAULT FALSE,

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'planned', 'under_construction')),
    -- Metadata
    construction_date DATE,
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE INDEX idx_wireless_towers_tenant ON wireless_towers(tenant_id)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_wireless_towers_location ON wireless_towers USING GIST (
    point(longitude, latitude)
) WHERE deleted_at IS NULL;

CREATE TABLE wireless_sectors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    tower_id UUID NOT NULL,
    device_id UUID,
        -- Access point device

    -- Sector details
    name VARCHAR(100) NOT NULL,
    sector_number INTEGER,
        -- 1, 2, 3, etc.

    -- Radio configuration
    frequency_mhz INTEGER NOT NULL,
        -- e.g., 2400, 5800
    channel_width_mhz INTEGER,
        -- 20, 40, 80, 160
    channel_number INTEGER,

    -- Antenna
    antenna_model VARCHAR(100),
    antenna_gain_dbi NUMERIC(5,2),
    azimuth INTEGER NOT NULL,
        -- 0-360 degrees (compass direction)
    beamwidth_degrees INTEGER NOT NULL,
        -- Horizontal beamwidth (e.g., 90)
    downtilt_degrees INTEGER DEFAULT 0,
        -- Vertical tilt

    -- Coverage
    max_range_km NUMERIC(6,2),
        -- Maximum coverage radius
    coverage_area_geojson JSONB,
        -- GeoJSON Polygon of coverage area

    -- Capacity
    max_capacity_mbps INTEGER,
    max_subscribers INTEGER,
    current_subscribers INTEGER DEFAULT 0,

    -- Power
    tx_power_dbm INTEGER,

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'maintenance')),
    operational_status VARCHAR(50)
        CHECK (operational_status IN ('online', 'offline', 'degraded')),
    -- Metadata
    installation_date DATE,
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, tower_id, name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, tower_id) REFERENCES wireless_towers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE SET NULL (device_id)
);

CREATE INDEX idx_wireless_sectors_tenant ON wireless_sectors(tenant_id)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_wireless_sectors_tower ON wireless_sectors(tower_id);
CREATE INDEX idx_wireless_sectors_device ON wireless_sectors(device_id);

CREATE TABLE wireless_subscribers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscriber_id UUID NOT NULL,
    sector_id UUID NOT NULL,

    -- CPE details
    cpe_mac VARCHAR(17) NOT NULL,
    cpe_model VARCHAR(100),
    cpe_ip INET,

    -- Installation
    install_latitude NUMERIC(10,8) NOT NULL,
    install_longitude NUMERIC(11,8) NOT NULL,
    install_elevation_meters NUMERIC(8,2),
    install_address TEXT,

    -- Signal quality
    signal_strength_dbm INTEGER,
    signal_quality_percent INTEGER,
    noise_floor_dbm INTEGER,
    snr_db INTEGER,
        -- Signal-to-Noise Ratio

    -- Link details
    distance_km NUMERIC(6,3),
    link_speed_mbps INTEGER,
    frequency_mhz INTEGER,

    -- Status
    status VARCHAR(50) DEFAULT 'active'
        CHECK (status IN ('active', 'inactive', 'offline')),
    last_seen TIMESTAMPTZ,

    -- Metadata
    installation_date DATE,
    notes TEXT,

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE(tenant_id, cpe_mac),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, sector_id) REFERENCES wireless_sectors (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX idx_wireless_subscribers_tenant ON wireless_subscribers(tenant_id)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_wireless_subscribers_subscriber ON wireless_subscribers(subscriber_id);
CREATE INDEX idx_wireless_subscribers_sector ON wireless_subscribers(sector_id);
CREATE INDEX idx_wireless_subscribers_location ON wireless_subscribers USING GIST (
    point(install_longitude, install_latitude)
) WHERE deleted_at IS NULL;

CREATE TABLE service_activations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscriber_id UUID NOT NULL,

    -- Activation details
    activation_type VARCHAR(50) NOT NULL
        CHECK (activation_type IN ('new_service', 'reactivation', 'plan_change', 'relocation')),
    -- Workflow
    workflow_id UUID,
        -- Reference to workflow execution
    workflow_status VARCHAR(50) DEFAULT 'pending'
        CHECK (workflow_status IN ('pending', 'in_progress', 'completed', 'failed', 'rolled_back')),
    -- Steps completed
    steps_completed JSONB DEFAULT '[]'::JSONB,
        -- ["radius_provisioned", "onu_activated", "billing_started"]
    current_step VARCHAR(100),

    -- Timing
    requested_at TIMESTAMPTZ DEFAULT NOW(),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ,
    duration_seconds INTEGER,

    -- Service details
    bandwidth_profile_id UUID,
    billing_plan_id UUID,

    -- Error handling
    error_message TEXT,
    error_step VARCHAR(100),
    retry_count INTEGER DEFAULT 0,

    -- Requester
    requested_by UUID,
        -- User ID who initiated

    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, bandwidth_profile_id) REFERENCES bandwidth_profiles (tenant_id, id),
    FOREIGN KEY (tenant_id, billing_plan_id) REFERENCES billing_subscription_plans (tenant_id, id)
        ON DELETE SET NULL (billing_plan_id)
);

CREATE INDEX idx_service_activations_tenant ON service_activations(tenant_id);
CREATE INDEX idx_service_activations_subscriber ON service_activations(subscriber_id);
CREATE INDEX idx_service_activations_status ON service_activations(workflow_status);
CREATE INDEX idx_service_activations_date ON service_activations(requested_at);

CREATE TABLE ansible_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

    -- Job details
    job_name VARCHAR(100) NOT NULL,
    playbook_name VARCHAR(255) NOT NULL,
    job_type VARCHAR(50)
        CHECK (job_type IN ('provisioning', 'backup', 'firmware_update', 'configuration')),
    -- Target
    target_device_id UUID,
    inventory JSONB,
        -- Ansible inventory

    -- Execution
    status VARCHAR(50) DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'success', 'failed', 'cancelled')),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    duration_seconds INTEGER,

    -- Results
    exit_code INTEGER,
    stdout TEXT,
    stderr TEXT,
    ansible_facts JSONB,
    changed_tasks INTEGER,
    failed_tasks INTEGER,

    -- AWX reference
    awx_job_id INTEGER,

    -- Requester
    triggered_by VARCHAR(255),
        -- User ID or 'system'
    trigger_source VARCHAR(50)
        CHECK (trigger_source IN ('manual', 'scheduled', 'workflow', 'api')),
    -- Audit
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, target_device_id) REFERENCES devices (tenant_id, id) ON DELETE SET NULL (target_device_id)
);

CREATE INDEX idx_ansible_jobs_tenant ON ansible_jobs(tenant_id);
CREATE INDEX idx_ansible_jobs_device ON ansible_jobs(target_device_id);
CREATE INDEX idx_ansible_jobs_status ON ansible_jobs(status);
CREATE INDEX idx_ansible_jobs_date ON ansible_jobs(started_at);

-- From the seed's "Query Optimization" section.
CREATE INDEX idx_subscribers_tenant_number ON subscribers(tenant_id, subscriber_number)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_devices_type_status ON devices(tenant_id, device_type, status)
    WHERE deleted_at IS NULL;

SELECT hotspot_secure_tables();
