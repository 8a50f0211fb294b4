-- Customers, clients and the packages they buy. Both seeds only reference these tables; they are
-- designed here in seed 004's style (UUID keys, tenant_id, audit columns, soft deletes).
--
-- References between tenant-scoped tables are composite, (tenant_id, x_id) → (tenant_id, id):
-- a row can never point at another tenant's row (a plain foreign key is checked without RLS), and
-- the keys already include the distribution column a Citus cluster needs.

-- customers: the billing account holder of seed 004's BSS (subscribers.customer_id, invoices).
CREATE TABLE customers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    customer_number VARCHAR(50) NOT NULL,
    customer_type VARCHAR(20) NOT NULL DEFAULT 'individual'
        CHECK (customer_type IN ('individual', 'business')),
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    company_name VARCHAR(255),
    email VARCHAR(255),
    phone VARCHAR(50),
    id_number VARCHAR(50),
    tax_pin VARCHAR(50),
    billing_address_line1 VARCHAR(255),
    billing_address_line2 VARCHAR(255),
    billing_city VARCHAR(100),
    billing_state VARCHAR(100),
    billing_postal_code VARCHAR(20),
    billing_country VARCHAR(100) DEFAULT 'Kenya',
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    status VARCHAR(50) NOT NULL DEFAULT 'active'
        CHECK (status IN ('prospect', 'active', 'suspended', 'closed')),
    notes TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, customer_number),
    UNIQUE (tenant_id, id)
);
CREATE INDEX idx_customers_tenant ON customers(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_customers_phone ON customers(tenant_id, phone) WHERE deleted_at IS NULL;

-- service_packages: what a client or a hotspot guest buys. Hotspot packages are short
-- (duration_minutes, data_limit_mb, max_devices); subscription packages renew every
-- validity_days at monthly_rate, paid from the client's wallet (process_subscription_renewal).
CREATE TABLE service_packages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    package_type VARCHAR(20) NOT NULL DEFAULT 'subscription'
        CHECK (package_type IN ('subscription', 'hotspot')),
    connection_type VARCHAR(20) NOT NULL DEFAULT 'fiber'
        CHECK (connection_type IN ('fiber', 'wireless', 'satellite', 'dsl', 'pppoe', 'hotspot')),
    download_mbps INTEGER NOT NULL CHECK (download_mbps > 0),
    upload_mbps INTEGER NOT NULL CHECK (upload_mbps > 0),
    monthly_rate NUMERIC(10,2) NOT NULL DEFAULT 0 CHECK (monthly_rate >= 0),
    price NUMERIC(10,2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    validity_days INTEGER NOT NULL DEFAULT 30 CHECK (validity_days > 0),
    duration_minutes INTEGER CHECK (duration_minutes > 0),
    data_limit_mb INTEGER CHECK (data_limit_mb > 0),
    max_devices INTEGER NOT NULL DEFAULT 1 CHECK (max_devices > 0),
    setup_fee NUMERIC(10,2) DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);
CREATE INDEX idx_service_packages_tenant ON service_packages(tenant_id, package_type)
    WHERE deleted_at IS NULL;

-- clients: seed 000's ISP clients (registration, wallet, renewals, hotspot devices, tickets).
-- wallet_balance is the money the client holds with the ISP; every change is a
-- wallet_transactions row. subscription_end_date is when the current paid period ends.
CREATE TABLE clients (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID,
    customer_id UUID,
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    phone VARCHAR(50) NOT NULL,
    mpesa_number VARCHAR(50),
    id_number VARCHAR(50),
    kra_pin_number VARCHAR(50),
    client_type VARCHAR(20) NOT NULL DEFAULT 'individual'
        CHECK (client_type IN ('individual', 'business', 'corporate', 'government')),
    connection_type VARCHAR(20) NOT NULL DEFAULT 'fiber'
        CHECK (connection_type IN ('fiber', 'wireless', 'satellite', 'dsl', 'pppoe', 'hotspot')),
    address TEXT,
    county VARCHAR(100),
    sub_county VARCHAR(100),
    latitude NUMERIC(10,8),
    longitude NUMERIC(11,8),
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'active', 'suspended', 'disconnected')),
    service_package_id UUID,
    monthly_rate NUMERIC(10,2) NOT NULL DEFAULT 0 CHECK (monthly_rate >= 0),
    balance NUMERIC(12,2) NOT NULL DEFAULT 0,
    wallet_balance NUMERIC(12,2) NOT NULL DEFAULT 0 CHECK (wallet_balance >= 0),
    auto_renewal BOOLEAN NOT NULL DEFAULT true,
    subscription_start_date TIMESTAMPTZ,
    subscription_end_date TIMESTAMPTZ,
    subscription_type VARCHAR(20) NOT NULL DEFAULT 'monthly'
        CHECK (subscription_type IN ('daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
    installation_date DATE,
    installation_status VARCHAR(20) DEFAULT 'pending'
        CHECK (installation_status IN ('pending', 'scheduled', 'completed', 'failed')),
    approved_at TIMESTAMPTZ,
    approved_by UUID,
    suspended_at TIMESTAMPTZ,
    suspension_reason TEXT,
    renewal_reminder_sent_at TIMESTAMPTZ,
    notes TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
        ON DELETE SET NULL (customer_id),
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id),
    FOREIGN KEY (tenant_id, approved_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (approved_by)
);
CREATE INDEX idx_clients_tenant ON clients(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_clients_status ON clients(tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_clients_phone ON clients(tenant_id, phone);
CREATE INDEX idx_clients_renewal ON clients(tenant_id, subscription_end_date)
    WHERE auto_renewal AND deleted_at IS NULL;
CREATE INDEX idx_clients_user ON clients(user_id);

SELECT hotspot_secure_tables();
