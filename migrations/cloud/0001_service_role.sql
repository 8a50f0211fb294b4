-- The role the service connects as for requests. It owns nothing and cannot bypass row-level
-- security; migrations run as the database owner. A cluster-wide object: created once, kept.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hotspot_app') THEN
        CREATE ROLE hotspot_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- Another database of this cluster created it at the same moment.
    NULL;
END
$$;
