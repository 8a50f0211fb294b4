-- Money: seed 004's billing module (referenced only there, designed here), seed 000's wallet and
-- M-Pesa settings. Amounts are NUMERIC(12,2) in the row's currency (KES by default).

CREATE TABLE billing_products (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    product_type VARCHAR(50) NOT NULL DEFAULT 'service'
        CHECK (product_type IN ('service', 'hotspot', 'equipment', 'installation', 'other')),
    service_package_id UUID,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id)
);
CREATE INDEX idx_billing_products_tenant ON billing_products(tenant_id) WHERE deleted_at IS NULL;

CREATE TABLE billing_subscription_plans (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    billing_interval VARCHAR(20) NOT NULL DEFAULT 'monthly'
        CHECK (billing_interval IN ('daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
    interval_count INTEGER NOT NULL DEFAULT 1 CHECK (interval_count > 0),
    trial_days INTEGER NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES billing_products (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_billing_plans_tenant ON billing_subscription_plans(tenant_id)
    WHERE deleted_at IS NULL;

CREATE TABLE billing_prices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plan_id UUID NOT NULL,
    amount NUMERIC(12,2) NOT NULL CHECK (amount >= 0),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    tax_rate NUMERIC(5,2) NOT NULL DEFAULT 0 CHECK (tax_rate BETWEEN 0 AND 100),
    valid_from TIMESTAMPTZ NOT NULL DEFAULT now(),
    valid_to TIMESTAMPTZ,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES billing_subscription_plans (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX idx_billing_prices_plan ON billing_prices(plan_id) WHERE deleted_at IS NULL;

CREATE TABLE billing_subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    customer_id UUID,
    client_id UUID,
    plan_id UUID NOT NULL,
    price_id UUID,
    status VARCHAR(20) NOT NULL DEFAULT 'active'
        CHECK (status IN ('trialing', 'active', 'past_due', 'suspended', 'cancelled', 'expired')),
    current_period_start TIMESTAMPTZ NOT NULL DEFAULT now(),
    current_period_end TIMESTAMPTZ NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    cancelled_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    CHECK (customer_id IS NOT NULL OR client_id IS NOT NULL),
    CHECK (current_period_end > current_period_start),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, plan_id) REFERENCES billing_subscription_plans (tenant_id, id),
    FOREIGN KEY (tenant_id, price_id) REFERENCES billing_prices (tenant_id, id)
        ON DELETE SET NULL (price_id)
);
CREATE INDEX idx_billing_subscriptions_tenant ON billing_subscriptions(tenant_id, status)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_billing_subscriptions_period_end ON billing_subscriptions(current_period_end)
    WHERE status = 'active';

CREATE TABLE billing_invoices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    invoice_number VARCHAR(50) NOT NULL,
    customer_id UUID,
    client_id UUID,
    subscription_id UUID,
    status VARCHAR(20) NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    subtotal NUMERIC(12,2) NOT NULL DEFAULT 0,
    tax_amount NUMERIC(12,2) NOT NULL DEFAULT 0,
    total_amount NUMERIC(12,2) NOT NULL DEFAULT 0,
    amount_paid NUMERIC(12,2) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    issued_at TIMESTAMPTZ,
    due_date DATE,
    paid_at TIMESTAMPTZ,
    period_start TIMESTAMPTZ,
    period_end TIMESTAMPTZ,
    notes TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, invoice_number),
    UNIQUE (tenant_id, id),
    CHECK (customer_id IS NOT NULL OR client_id IS NOT NULL),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES billing_subscriptions (tenant_id, id)
        ON DELETE SET NULL (subscription_id)
);
CREATE INDEX idx_billing_invoices_tenant ON billing_invoices(tenant_id, status)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_billing_invoices_client ON billing_invoices(client_id);
CREATE INDEX idx_billing_invoices_customer ON billing_invoices(customer_id);

CREATE TABLE billing_invoice_line_items (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    invoice_id UUID NOT NULL,
    description TEXT NOT NULL,
    quantity NUMERIC(12,3) NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_price NUMERIC(12,2) NOT NULL,
    amount NUMERIC(12,2) NOT NULL,
    tax_rate NUMERIC(5,2) NOT NULL DEFAULT 0,
    service_package_id UUID,
    price_id UUID,
    period_start TIMESTAMPTZ,
    period_end TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    created_by UUID,
    updated_by UUID,
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing_invoices (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id),
    FOREIGN KEY (tenant_id, price_id) REFERENCES billing_prices (tenant_id, id)
        ON DELETE SET NULL (price_id)
);
CREATE INDEX idx_billing_line_items_invoice ON billing_invoice_line_items(invoice_id);

-- Payments of every method. M-Pesa (flow 2): the STK push records merchant/checkout request ids,
-- Safaricom's callback completes the row (idempotent on the receipt and checkout ids, which are
-- unique across tenants because the callback arrives before its tenant is known).
CREATE TABLE billing_payments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    invoice_id UUID,
    client_id UUID,
    customer_id UUID,
    hotspot_id UUID,
    service_package_id UUID,
    voucher_id UUID,
    amount NUMERIC(12,2) NOT NULL CHECK (amount > 0),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    payment_method VARCHAR(20) NOT NULL DEFAULT 'mpesa'
        CHECK (payment_method IN ('mpesa', 'cash', 'bank_transfer', 'card', 'wallet')),
    purpose VARCHAR(20) NOT NULL DEFAULT 'invoice'
        CHECK (purpose IN ('invoice', 'wallet_topup', 'hotspot_package', 'renewal', 'other')),
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'completed', 'failed', 'cancelled', 'refunded')),
    phone_number VARCHAR(20),
    client_mac VARCHAR(17),
    mpesa_receipt_number VARCHAR(255) UNIQUE,
    merchant_request_id VARCHAR(255),
    checkout_request_id VARCHAR(255) UNIQUE,
    result_code INTEGER,
    result_desc TEXT,
    reference_number VARCHAR(255),
    confirmed_by_query_at TIMESTAMPTZ,
    callback_payload JSONB,
    paid_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, id),
    CHECK (status <> 'completed' OR paid_at IS NOT NULL),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing_invoices (tenant_id, id)
        ON DELETE SET NULL (invoice_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
        ON DELETE SET NULL (client_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
        ON DELETE SET NULL (customer_id),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id)
        ON DELETE SET NULL (hotspot_id),
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES hotspot_vouchers (tenant_id, id)
        ON DELETE SET NULL (voucher_id)
);
CREATE INDEX idx_billing_payments_tenant ON billing_payments(tenant_id, status, created_at)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_billing_payments_client ON billing_payments(client_id);
CREATE INDEX idx_billing_payments_invoice ON billing_payments(invoice_id);

-- Seed 000: every credit and debit of a client's wallet.
CREATE TABLE wallet_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id UUID NOT NULL,
    transaction_type VARCHAR(20) NOT NULL
        CHECK (transaction_type IN ('credit', 'debit', 'payment', 'refund', 'renewal')),
    amount NUMERIC NOT NULL CHECK (amount > 0),
    description TEXT,
    reference_number VARCHAR(255),
    mpesa_receipt_number VARCHAR(255),
    payment_id UUID,
    created_at TIMESTAMPTZ DEFAULT now(),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, payment_id) REFERENCES billing_payments (tenant_id, id)
        ON DELETE SET NULL (payment_id)
);
CREATE INDEX idx_wallet_transactions_client ON wallet_transactions(client_id, created_at);
CREATE INDEX idx_wallet_transactions_company ON wallet_transactions(tenant_id);
CREATE UNIQUE INDEX idx_wallet_transactions_receipt ON wallet_transactions(mpesa_receipt_number)
    WHERE mpesa_receipt_number IS NOT NULL AND transaction_type = 'credit';

-- Seed 000: one M-Pesa (Daraja) configuration per tenant. Secrets are stored encrypted by the
-- service (the columns hold ciphertext). Callbacks are unsigned, so each tenant's callback URL
-- carries an unguessable token; only its SHA-256 is kept (payment_callback_lookup()).
CREATE TABLE mpesa_settings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL UNIQUE REFERENCES tenants(id) ON DELETE CASCADE,
    paybill_number VARCHAR(20) NOT NULL,
    passkey TEXT,
    consumer_key TEXT,
    consumer_secret TEXT,
    shortcode VARCHAR(20),
    environment VARCHAR(20) NOT NULL DEFAULT 'sandbox'
        CHECK (environment IN ('sandbox', 'production')),
    callback_token_hash BYTEA UNIQUE CHECK (octet_length(callback_token_hash) = 32),
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now()
);

SELECT hotspot_secure_tables();
