-- Tenancy: the one tenancy root (`tenants`), the people who operate a tenant (`users`), and the
-- machinery every later migration uses to keep tenants apart.
--
-- Seed 000 keyed tenants by `isp_company_id` (table `isp_companies`), seed 004 by
-- `tenant_id VARCHAR` (table `tenants`). The product has one root, `tenants`, with a UUID id;
-- every tenant-scoped table carries `tenant_id UUID NOT NULL REFERENCES tenants(id)`.

CREATE EXTENSION IF NOT EXISTS pgcrypto;   -- gen_random_bytes(), digest()
CREATE EXTENSION IF NOT EXISTS btree_gist; -- exclusion constraints mixing = and <> on plain types

-- The role FreeRADIUS connects as (through a LOGIN role that is a member of it). Like
-- hotspot_app it owns nothing and cannot bypass row-level security; the RADIUS migration gives it
-- explicit, per-table policies. Cluster-wide, so guarded as in 0001.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hotspot_radius') THEN
        CREATE ROLE hotspot_radius NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The tenant of the current transaction: `set_config('app.tenant_id', <uuid>, true)`. Unset or
-- empty means "no tenant": every tenant policy then matches nothing (NULL), never an error.
CREATE FUNCTION app_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- The signed-in user of the current transaction (`app.user_id`), for the user-scoped rules.
CREATE FUNCTION app_current_user() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

-- Maintains `updated_at` on every table that has one (installed by hotspot_secure_tables()).
CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Brings every table of the schema to the product's security rules. Each migration ends with a
-- call, so a table added later cannot be forgotten (and a test walks the catalog to prove it):
-- - a table with `tenant_id`: RLS enabled AND forced (the owner obeys it too) and the policy
--   `tenant_isolation`, USING and WITH CHECK on the transaction's tenant;
-- - a table with `updated_at`: the set_updated_at trigger;
-- - the service role: DML on every table, USAGE on every sequence, nothing else (it owns nothing).
-- Global tables (no tenant_id) get their grants adjusted by the migration that creates them.
CREATE FUNCTION hotspot_secure_tables() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind IN ('r', 'p')
          AND EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = 'tenant_isolation') THEN
            EXECUTE format(
                'CREATE POLICY tenant_isolation ON %s '
                'USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
                'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
                t);
        END IF;
    END LOOP;

    FOR t IN
        SELECT c.oid::regclass
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind = 'r'
          AND NOT c.relispartition
          AND EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = 'updated_at' AND NOT a.attisdropped)
          AND NOT EXISTS (SELECT 1 FROM pg_trigger g
                          WHERE g.tgrelid = c.oid AND g.tgname = 'set_updated_at')
    LOOP
        EXECUTE format(
            'CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION set_updated_at()', t);
    END LOOP;

    GRANT USAGE ON SCHEMA public TO hotspot_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO hotspot_app;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO hotspot_app;
    -- The migration ledger is the owner's alone.
    REVOKE ALL ON schema_migrations FROM hotspot_app;
    -- A session reads and edits its own tenant row; creating or removing tenants is platform
    -- administration, done by the owner.
    REVOKE INSERT, DELETE ON tenants FROM hotspot_app;
    -- Global reference data: readable by every tenant, written by the platform only.
    IF to_regclass('public.equipment_types') IS NOT NULL THEN
        REVOKE INSERT, UPDATE, DELETE ON equipment_types FROM hotspot_app;
    END IF;
    -- Security log of RADIUS attempts for usernames of no tenant: the platform's only.
    IF to_regclass('public.radpostauth_unknown') IS NOT NULL THEN
        REVOKE ALL ON radpostauth_unknown FROM hotspot_app;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION hotspot_secure_tables() FROM PUBLIC;

-- Monthly partitions (UTC months) of the tables partitioned by month: hotspot_sessions (by
-- start_time) and radacct_history (by acctstoptime). Makes sure the partitions of the month of
-- p_from and the p_months_ahead months after it exist; rows the default partition caught for a
-- month being created move into the new partition. Returns how many partitions it created.
-- SECURITY DEFINER: partitions are DDL on tables the service role does not own, and the rows in
-- a default partition belong to every tenant. Only the two tables above are accepted. Each new
-- partition gets the same RLS, policies and grants as every tenant table.
CREATE FUNCTION create_monthly_partitions(p_parent REGCLASS, p_months_ahead INTEGER DEFAULT 3,
                                          p_from TIMESTAMPTZ DEFAULT now())
RETURNS INTEGER
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    parent TEXT;
    key_column TEXT;
    default_part REGCLASS;
    month_start TIMESTAMPTZ;
    month_end TIMESTAMPTZ;
    part TEXT;
    created INTEGER := 0;
BEGIN
    SELECT c.relname, a.attname, NULLIF(pt.partdefid, 0)::regclass
    INTO parent, key_column, default_part
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_partitioned_table pt ON pt.partrelid = c.oid AND pt.partstrat = 'r'
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
    WHERE c.oid = p_parent AND n.nspname = 'public';
    IF parent IS NULL OR parent NOT IN ('hotspot_sessions', 'radacct_history') THEN
        RAISE EXCEPTION '% is not a table partitioned by month', p_parent;
    END IF;
    IF p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'months ahead must be between 0 and 120, not %', p_months_ahead;
    END IF;
    -- One creator at a time (several replicas run the job).
    PERFORM pg_advisory_xact_lock(hashtext('create_monthly_partitions:' || parent));
    FOR i IN 0 .. p_months_ahead LOOP
        month_start := (date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i))
                       AT TIME ZONE 'UTC';
        month_end := ((month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        part := format('%s_%s', parent, to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'));
        CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL;
        IF default_part IS NOT NULL THEN
            EXECUTE format('CREATE TEMP TABLE hotspot_partition_rows AS '
                           'SELECT * FROM %s WHERE %I >= %L AND %I < %L',
                           default_part, key_column, month_start, key_column, month_end);
            EXECUTE format('DELETE FROM %s WHERE %I >= %L AND %I < %L',
                           default_part, key_column, month_start, key_column, month_end);
        END IF;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       part, p_parent, month_start, month_end);
        IF default_part IS NOT NULL THEN
            EXECUTE format('INSERT INTO %s SELECT * FROM pg_temp.hotspot_partition_rows', p_parent);
            DROP TABLE pg_temp.hotspot_partition_rows;
        END IF;
        created := created + 1;
    END LOOP;
    IF created > 0 THEN
        PERFORM public.hotspot_secure_tables();
    END IF;
    RETURN created;
END
$$;
REVOKE ALL ON FUNCTION create_monthly_partitions(REGCLASS, INTEGER, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_monthly_partitions(REGCLASS, INTEGER, TIMESTAMPTZ) TO hotspot_app;

-- ---------------------------------------------------------------------------------------------
-- tenants: seed 004's columns plus what seed 000's isp_companies carried (registration and
-- licence details, address, M-Pesa-facing contact).
CREATE TABLE tenants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    slug VARCHAR(255) UNIQUE NOT NULL,
    domain VARCHAR(255) UNIQUE,

    status VARCHAR(50) NOT NULL DEFAULT 'trial'
        CHECK (status IN ('active', 'suspended', 'trial', 'inactive', 'pending', 'cancelled')),
    plan_type VARCHAR(50) NOT NULL DEFAULT 'free'
        CHECK (plan_type IN ('free', 'starter', 'professional', 'enterprise', 'custom')),

    email VARCHAR(255),
    phone VARCHAR(50),
    billing_email VARCHAR(255),
    billing_cycle VARCHAR(50) NOT NULL DEFAULT 'monthly',

    trial_ends_at TIMESTAMPTZ,
    subscription_starts_at TIMESTAMPTZ,
    subscription_ends_at TIMESTAMPTZ,

    max_users INTEGER DEFAULT 5,
    max_api_calls_per_month INTEGER DEFAULT 10000,
    max_storage_gb INTEGER DEFAULT 10,
    max_subscribers INTEGER DEFAULT 100,
    max_olts INTEGER DEFAULT 2,
    max_routers INTEGER DEFAULT 5,
    max_wireless_aps INTEGER DEFAULT 10,

    current_users INTEGER DEFAULT 0,
    current_api_calls INTEGER DEFAULT 0,
    current_storage_gb NUMERIC(10,2) DEFAULT 0,
    current_subscribers INTEGER DEFAULT 0,
    current_olts INTEGER DEFAULT 0,
    current_routers INTEGER DEFAULT 0,
    current_wireless_aps INTEGER DEFAULT 0,

    features JSONB DEFAULT '{}'::JSONB,
    settings JSONB DEFAULT '{}'::JSONB,
    custom_metadata JSONB DEFAULT '{}'::JSONB,

    company_size VARCHAR(50),
    industry VARCHAR(100),
    country VARCHAR(100),
    timezone VARCHAR(50) DEFAULT 'UTC',

    logo_url VARCHAR(500),
    primary_color VARCHAR(20),

    -- From seed 000's isp_companies.
    registration_number VARCHAR(100),
    kra_pin VARCHAR(50),
    licence_number VARCHAR(100),
    licence_type VARCHAR(100),
    address TEXT,
    county VARCHAR(100),
    sub_county VARCHAR(100),
    contact_person VARCHAR(255),
    is_active BOOLEAN NOT NULL DEFAULT true,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID
);

CREATE INDEX idx_tenants_status ON tenants(status) WHERE deleted_at IS NULL;
CREATE INDEX idx_tenants_slug ON tenants(slug) WHERE deleted_at IS NULL;

-- The tenancy root has no tenant_id: a session sees and edits its own tenant row only. Creating
-- and listing tenants is platform administration (see the SECURITY DEFINER functions).
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants
    USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- ---------------------------------------------------------------------------------------------
-- users: seed 004's users and seed 000's profiles in one table (operators, staff, technicians
-- and client portal accounts of a tenant).
CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email VARCHAR(255) NOT NULL,
    username VARCHAR(255),
    password_hash VARCHAR(255),
    full_name VARCHAR(255),

    -- From seed 000's profiles.
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    phone VARCHAR(50),
    role VARCHAR(50) NOT NULL DEFAULT 'readonly'
        CHECK (role IN ('super_admin', 'isp_admin', 'manager', 'technician', 'support',
                        'billing', 'customer_support', 'sales', 'network_engineer',
                        'infrastructure_manager', 'hotspot_admin', 'client', 'readonly')),
    department_id UUID,
    avatar_url TEXT,

    is_active BOOLEAN DEFAULT TRUE,
    is_verified BOOLEAN DEFAULT FALSE,
    roles JSONB DEFAULT '[]'::JSONB,
    mfa_enabled BOOLEAN DEFAULT FALSE,
    mfa_secret VARCHAR(255),

    last_login_at TIMESTAMPTZ,
    email_verified_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    created_by UUID,
    updated_by UUID,

    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, id)
);

CREATE INDEX idx_users_tenant ON users(tenant_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL;

SELECT hotspot_secure_tables();
