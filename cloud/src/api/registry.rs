//! The table registry of the generic resource API: which tables it serves, which roles may read
//! and write each, and which columns are hidden or for administrators only. Column names and
//! types come from PostgreSQL's catalogue ([`Catalog`], read once), so SQL is built from
//! identifiers found in both the registry and the catalogue, never from the request.

use std::collections::BTreeMap;

use super::auth::Role;

use Role::{FieldTech as F, NocEngineer as N, SupportAgent as S, TenantAdmin as A};

/// One table of the generic API.
#[derive(Debug)]
pub struct Table {
    /// The SQL table name, also the URL segment.
    pub name: &'static str,
    /// Roles that may list and get rows.
    pub read: &'static [Role],
    /// Roles that may create, update and delete rows (empty: read-only).
    pub write: &'static [Role],
    /// Columns never shown nor written through the API (hashes, vault paths).
    pub hidden: &'static [&'static str],
    /// Columns only tenant administrators may read and write (secrets, tax numbers).
    pub admin_only: &'static [&'static str],
    /// Columns only the money roles (`FINANCE`: tenant_admin, support_agent) may read: balances,
    /// as the typed endpoints show money only to them.
    pub finance_only: &'static [&'static str],
    /// Columns nobody writes through this API (balances kept by functions, counters).
    pub readonly: &'static [&'static str],
    /// The key column (`id` but for the RADIUS accounting table).
    pub key: &'static str,
}

const STAFF: &[Role] = &[A, N, S, F];
const NOC: &[Role] = &[A, N];
const SUPPORT: &[Role] = &[A, N, S];
const FIELD: &[Role] = &[A, N, F];
const ADMIN: &[Role] = &[A];
const FINANCE: &[Role] = &[A, S];

const fn t(name: &'static str, read: &'static [Role], write: &'static [Role]) -> Table {
    Table {
        name,
        read,
        write,
        hidden: &[],
        admin_only: &[],
        finance_only: &[],
        readonly: &[],
        key: "id",
    }
}

/// Columns filled by the service or the database, never by a request.
pub const AUTOMATIC: [&str; 7] = [
    "tenant_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
    "id",
];

/// Every table of the generic API. The typed endpoints own the hotspot business (hotspots,
/// packages, vouchers, sessions, registered devices, analytics, wallet, M-Pesa settings, tenants,
/// users, tokens), which is therefore not here.
pub static TABLES: &[Table] = &[
    Table {
        admin_only: &["tax_pin"],
        ..t("customers", STAFF, SUPPORT)
    },
    Table {
        admin_only: &["kra_pin_number", "id_number"],
        finance_only: &["wallet_balance", "balance"],
        readonly: &["wallet_balance", "balance"],
        ..t("clients", STAFF, SUPPORT)
    },
    t("client_equipment", STAFF, FIELD),
    t("billing_products", STAFF, ADMIN),
    t("billing_subscription_plans", STAFF, ADMIN),
    t("billing_prices", STAFF, ADMIN),
    t("billing_subscriptions", FINANCE, ADMIN),
    t("billing_invoices", FINANCE, ADMIN),
    t("billing_invoice_line_items", FINANCE, ADMIN),
    t("billing_payments", FINANCE, ADMIN),
    Table {
        admin_only: &["snmp_community"],
        ..t("equipment", STAFF, FIELD)
    },
    t("inventory_items", STAFF, FIELD),
    t("inventory_history", STAFF, FIELD),
    t("network_events", STAFF, NOC),
    t("qos_policies", STAFF, NOC),
    t("client_service_assignments", STAFF, NOC),
    t("interface_statistics", STAFF, NOC),
    t("bandwidth_statistics", STAFF, NOC),
    t("departments", STAFF, ADMIN),
    t("support_tickets", STAFF, SUPPORT),
    t("ticket_assignments", STAFF, SUPPORT),
    t("ticket_comments", STAFF, SUPPORT),
    t("internal_messages", STAFF, STAFF),
    t("message_attachments", STAFF, STAFF),
    t("notifications", STAFF, STAFF),
    t("notification_preferences", STAFF, STAFF),
    t("notification_logs", STAFF, ADMIN),
    t("external_users", STAFF, ADMIN),
    Table {
        admin_only: &["pppoe_password"],
        ..t("subscribers", STAFF, SUPPORT)
    },
    t("bandwidth_profiles", STAFF, NOC),
    t("ip_pools", STAFF, NOC),
    t("ip_allocations", STAFF, NOC),
    Table {
        admin_only: &["snmp_community"],
        ..t("devices", STAFF, NOC)
    },
    Table {
        hidden: &["private_key_vault_path"],
        ..t("vpn_tunnels", STAFF, NOC)
    },
    t("olts", STAFF, FIELD),
    Table {
        hidden: &["acs_password_vault_path", "wifi_password_vault_path"],
        ..t("onus", STAFF, FIELD)
    },
    t("splitters", STAFF, FIELD),
    t("fiber_cables", STAFF, FIELD),
    t("wireless_towers", STAFF, FIELD),
    t("wireless_sectors", STAFF, FIELD),
    t("wireless_subscribers", STAFF, NOC),
    t("service_activations", STAFF, NOC),
    t("ansible_jobs", STAFF, NOC),
    Table {
        // Written through the RADIUS API (`/api/v1/radius/nas`), which makes the secret and
        // shows it once; it is never read back.
        hidden: &["secret"],
        admin_only: &["community"],
        ..t("nas", NOC, &[])
    },
    Table {
        admin_only: &["value"],
        ..t("radcheck", NOC, NOC)
    },
    t("radreply", NOC, NOC),
    t("radusergroup", NOC, NOC),
    t("radgroupcheck", NOC, NOC),
    t("radgroupreply", NOC, NOC),
    Table {
        key: "radacctid",
        ..t("radacct", NOC, &[])
    },
    t("radius_dynauth", NOC, &[]),
    Table {
        // The password a NAS sent (PAP): never shown.
        hidden: &["pass"],
        ..t("radpostauth", NOC, &[])
    },
];

pub fn find(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// A column as PostgreSQL describes it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type()` of the column: usable in `CAST(… AS type)`.
    pub sql_type: String,
    pub not_null: bool,
    pub has_default: bool,
}

/// The columns of every registered table, in table order.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tables: BTreeMap<&'static str, Vec<Column>>,
}

impl Catalog {
    /// Reads the columns of the registered tables.
    pub async fn load(client: &deadpool_postgres::Object) -> Result<Self, tokio_postgres::Error> {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        let rows = client
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                        a.attnotnull, a.atthasdef OR a.attidentity <> ''
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE c.relname = ANY($1)
                 ORDER BY c.relname, a.attnum",
                &[&names],
            )
            .await?;
        let mut tables: BTreeMap<&'static str, Vec<Column>> = BTreeMap::new();
        for r in rows {
            let table: String = r.get(0);
            let Some(t) = find(&table) else { continue };
            tables.entry(t.name).or_default().push(Column {
                name: r.get(1),
                sql_type: r.get(2),
                not_null: r.get(3),
                has_default: r.get(4),
            });
        }
        Ok(Self { tables })
    }

    pub fn columns(&self, table: &str) -> &[Column] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Table {
    pub fn can_read(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.read.contains(r))
    }

    pub fn can_write(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.write.contains(r))
    }

    /// Whether `column` is shown to a caller with `roles`.
    pub fn readable(&self, column: &str, roles: &[Role]) -> bool {
        !self.hidden.contains(&column)
            && (!self.admin_only.contains(&column) || roles.contains(&Role::TenantAdmin))
            && (!self.finance_only.contains(&column) || roles.iter().any(|r| FINANCE.contains(r)))
    }

    /// Whether a caller with `roles` may set `column`.
    pub fn writable(&self, column: &str, roles: &[Role]) -> bool {
        self.readable(column, roles)
            && !self.readonly.contains(&column)
            && !AUTOMATIC.contains(&column)
            && column != self.key
    }
}
