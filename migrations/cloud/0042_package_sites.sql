-- Which sites sell a package. A package with no rows here is sold at every site of its tenant
-- (what every package did before this table); with rows, only at the sites they name.
--
-- A router's pull carries a plan only to the sites that sell it (`package_sold_at`); a change of
-- a package's sites logs a plan change for every site of the tenant (hotspot_id NULL), so a site
-- that stops selling it is answered with the plan's withdrawal on its next pull.

CREATE TABLE service_package_hotspots (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    service_package_id UUID NOT NULL,
    hotspot_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, service_package_id, hotspot_id),
    FOREIGN KEY (tenant_id, service_package_id)
        REFERENCES service_packages (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_service_package_hotspots_hotspot
    ON service_package_hotspots (tenant_id, hotspot_id);

-- Whether package p_package is sold at site p_hotspot: no site rows (every site), or a row for
-- this one. Invoker's rights: row-level security applies to the rows it reads.
CREATE FUNCTION package_sold_at(p_package UUID, p_hotspot UUID) RETURNS BOOLEAN
    LANGUAGE sql STABLE
    AS $$
        SELECT NOT EXISTS (SELECT 1 FROM service_package_hotspots l
                           WHERE l.service_package_id = p_package)
            OR EXISTS (SELECT 1 FROM service_package_hotspots l
                       WHERE l.service_package_id = p_package AND l.hotspot_id = p_hotspot)
    $$;

CREATE FUNCTION sync_log_package_sites() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
    SELECT r.tenant_id, NULL, 'plan', p.id
    FROM service_packages p
    WHERE p.id = r.service_package_id AND p.package_type = 'hotspot';
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_log AFTER INSERT OR UPDATE OR DELETE ON service_package_hotspots
    FOR EACH ROW EXECUTE FUNCTION sync_log_package_sites();

SELECT hotspot_secure_tables();
