//! The daemon's configuration: one TOML file, parsed strictly, then validated into [`Config`].
//!
//! Parsing ([`RawConfig`]) only checks shapes and rejects unknown keys, so a typo is an error and
//! not a silently ignored setting. [`RawConfig::validate`] turns it into the [`Config`] the rest of
//! the daemon receives (as `Arc<Config>`); nothing else reads the file or the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/hotspot/edge.toml";

/// A complete, commented configuration; `hotspotd config example` prints it. Every value shown is
/// the default, so deleting a line changes nothing.
pub const EXAMPLE: &str = include_str!("../edge.example.toml");

/// The file as written. Every field has a default so an empty file is a valid laptop setup.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub site: RawSite,
    pub lan: RawLan,
    pub portal: RawPortal,
    pub store: RawStore,
    pub branding: RawBranding,
    pub firewall: crate::firewall::settings::RawFirewall,
    pub cloud: crate::sync::settings::RawCloud,
    pub sync: crate::sync::settings::RawSync,
    pub clients: RawClients,
    pub vouchers: RawVouchers,
    pub sessions: RawSessions,
    pub radius: crate::radius::settings::RawRadius,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSite {
    pub name: String,
    pub hotspot_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLan {
    pub interface: String,
    pub address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPortal {
    pub listen: String,
    pub max_connections: usize,
    pub base_url: Option<String>,
    pub languages: Vec<String>,
    pub default_language: String,
    pub max_body_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClients {
    pub neighbour_source: String,
    pub lease_file: PathBuf,
    pub require_lease: bool,
    pub capture: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawVouchers {
    pub max_failures: u32,
    pub cooldown_seconds: u32,
    pub max_cooldown_seconds: u32,
    pub down_kbps: u32,
    pub up_kbps: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    pub idle_timeout_seconds: u32,
    pub accounting_interval_seconds: u32,
}

impl Default for RawClients {
    fn default() -> Self {
        Self {
            neighbour_source: "kernel".into(),
            lease_file: "/tmp/dhcp.leases".into(),
            require_lease: true,
            capture: true,
        }
    }
}

impl Default for RawVouchers {
    fn default() -> Self {
        Self {
            max_failures: 5,
            cooldown_seconds: 30,
            max_cooldown_seconds: 3600,
            down_kbps: 0,
            up_kbps: 0,
        }
    }
}

impl Default for RawSessions {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: 900,
            accounting_interval_seconds: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBranding {
    pub title: String,
    pub welcome: String,
    pub accent_color: String,
    pub support_phone: Option<String>,
}

impl Default for RawSite {
    fn default() -> Self {
        Self {
            name: "Hotspot".into(),
            hotspot_id: None,
        }
    }
}

impl Default for RawLan {
    fn default() -> Self {
        Self {
            interface: "br-lan".into(),
            address: "192.168.1.1".into(),
        }
    }
}

impl Default for RawPortal {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:2050".into(),
            max_connections: 512,
            base_url: None,
            languages: vec!["en".into(), "sw".into()],
            default_language: "en".into(),
            max_body_bytes: 4096,
        }
    }
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            path: "/var/lib/hotspot/edge.db".into(),
        }
    }
}

impl Default for RawBranding {
    fn default() -> Self {
        Self {
            title: "Free WiFi".into(),
            welcome: "Enter your voucher code to get online.".into(),
            accent_color: "#0a7d55".into(),
            support_phone: None,
        }
    }
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The validated configuration every part of the daemon is built from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Name shown to guests and operators.
    pub site_name: String,
    /// The cloud's id for this hotspot, once the router is claimed.
    pub hotspot_id: Option<String>,
    /// The interface guests arrive on (OpenWrt's `br-lan`).
    pub lan_interface: String,
    /// The router's address on that interface: where guests reach the portal.
    pub lan_address: IpAddr,
    /// Where the portal listens.
    pub portal_listen: SocketAddr,
    /// Cap on concurrent portal connections: a router has little memory.
    pub max_connections: usize,
    /// The SQLite database file.
    pub store_path: PathBuf,
    pub branding: Branding,
    pub firewall: crate::firewall::settings::FirewallConfig,
    /// Where the cloud is and how this router proves itself to it.
    pub cloud: crate::sync::settings::CloudConfig,
    /// The outbox bound and how often sync reports and runs.
    pub sync: crate::sync::settings::SyncConfig,
    /// The portal's address as guests reach it, ending in `/`; also the base of the captive API
    /// URI given in DHCP option 114.
    pub base_url: String,
    /// Host names (and address literals) that are the portal itself; any other `Host` is a
    /// request the firewall redirected here.
    pub portal_hosts: Vec<String>,
    /// Languages offered, the first the default when the browser asks for none of them.
    pub languages: Vec<Language>,
    /// Largest request body accepted (forms are a few hundred bytes).
    pub max_body_bytes: usize,
    /// Where a client's MAC comes from.
    pub neighbour_source: NeighbourSource,
    /// dnsmasq's lease file (OpenWrt: `/tmp/dhcp.leases`).
    pub lease_file: PathBuf,
    /// Refuse clients whose IP and MAC are not in a current DHCP lease (anti-spoofing). Turn off
    /// on a machine without dnsmasq.
    pub require_lease: bool,
    /// Learn clients passively from the LAN interface (DHCP fingerprint and host name, ARP,
    /// IPv6 ND); needs CAP_NET_RAW, and is skipped with a warning without it.
    pub capture: bool,
    /// Voucher guessing throttle and the rates of vouchers without a plan.
    pub vouchers: VoucherSettings,
    /// A session with no traffic for this long ends.
    pub idle_timeout_secs: i64,
    /// How often counters are read and limits applied.
    pub accounting_interval_secs: u64,
    /// The RADIUS servers this router is a NAS of; `None` when `[radius]` is off.
    pub radius: Option<crate::radius::settings::RadiusConfig>,
}

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Swahili,
}

impl Language {
    /// The BCP 47 tag (`en`, `sw`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Swahili => "sw",
        }
    }

    /// Parses a tag's primary subtag (`sw-KE` is Swahili).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or("").trim();
        if primary.eq_ignore_ascii_case("en") {
            Some(Language::English)
        } else if primary.eq_ignore_ascii_case("sw") {
            Some(Language::Swahili)
        } else {
            None
        }
    }
}

/// Where the daemon learns a client's MAC from its IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourSource {
    /// The kernel neighbour table (`/proc/net/arp`, and `ip -6 neigh` for IPv6).
    Kernel,
    /// dnsmasq's lease file only (IPv4 clients that took a DHCP lease).
    Leases,
}

/// Voucher entry rules.
#[derive(Debug, Clone)]
pub struct VoucherSettings {
    /// Wrong codes allowed before a cool-down starts.
    pub max_failures: u32,
    /// First cool-down; each further failure doubles it.
    pub cooldown_secs: i64,
    /// Longest cool-down.
    pub max_cooldown_secs: i64,
    /// Rates of a voucher without a plan, kbit/s (0: unlimited).
    pub down_kbps: u32,
    pub up_kbps: u32,
}

/// What a site may change about the portal's look.
#[derive(Debug, Clone)]
pub struct Branding {
    pub title: String,
    pub welcome: String,
    /// A CSS colour in `#rrggbb` form (checked: it is written into the page's style).
    pub accent_color: String,
    pub support_phone: Option<String>,
}

impl RawConfig {
    /// Parses TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks every value and builds the [`Config`].
    pub fn validate(self) -> Result<Config, ConfigError> {
        let site_name = non_empty_text("site.name", self.site.name, 64)?;
        let hotspot_id = match self.site.hotspot_id {
            Some(id) if !is_uuid(&id) => return Err(invalid("site.hotspot_id", "must be a UUID")),
            other => other.map(|s| s.to_ascii_lowercase()),
        };
        let lan_interface = self.lan.interface;
        if lan_interface.is_empty()
            || lan_interface.len() > 15
            || !lan_interface
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        {
            return Err(invalid(
                "lan.interface",
                "must be an interface name of 1 to 15 letters, digits, '-', '_', '.' or '@'",
            ));
        }
        let lan_address: IpAddr = self
            .lan
            .address
            .parse()
            .map_err(|_| invalid("lan.address", "must be an IP address such as 192.168.1.1"))?;
        let portal_listen: SocketAddr = self.portal.listen.parse().map_err(|_| {
            invalid(
                "portal.listen",
                "must be an address and port such as 0.0.0.0:2050",
            )
        })?;
        if !(1..=65_536).contains(&self.portal.max_connections) {
            return Err(invalid(
                "portal.max_connections",
                "must be between 1 and 65536",
            ));
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(invalid("store.path", "must name a file"));
        }
        let accent = self.branding.accent_color;
        if !(accent.len() == 7
            && accent.starts_with('#')
            && accent[1..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid(
                "branding.accent_color",
                "must be a colour like #0a7d55",
            ));
        }
        let support_phone = match self.branding.support_phone {
            Some(p)
                if p.len() > 20
                    || !p.bytes().all(|b| b.is_ascii_digit() || b" +-".contains(&b)) =>
            {
                return Err(invalid("branding.support_phone", "must be a phone number"));
            }
            other => other,
        };
        let base_url = match self.portal.base_url {
            Some(u) => {
                let rest = u
                    .strip_prefix("http://")
                    .or_else(|| u.strip_prefix("https://"));
                match rest {
                    Some(r)
                        if !r.is_empty()
                            && u.len() <= 200
                            && !u
                                .bytes()
                                .any(|b| b.is_ascii_control() || b" \"'<>\\`".contains(&b)) =>
                    {
                        if u.ends_with('/') { u } else { format!("{u}/") }
                    }
                    _ => {
                        return Err(invalid(
                            "portal.base_url",
                            "must be an http:// or https:// URL such as http://portal.lan:2050/",
                        ));
                    }
                }
            }
            None => match lan_address {
                IpAddr::V6(a) => format!("http://[{a}]:{}/", portal_listen.port()),
                a => format!("http://{a}:{}/", portal_listen.port()),
            },
        };
        let mut portal_hosts = vec![
            host_of(&base_url).to_ascii_lowercase(),
            lan_address.to_string(),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if !portal_listen.ip().is_unspecified() {
            portal_hosts.push(portal_listen.ip().to_string());
        }
        portal_hosts.dedup();
        let mut languages = Vec::new();
        let default = Language::from_tag(&self.portal.default_language)
            .filter(|_| self.portal.default_language.len() <= 8)
            .ok_or_else(|| invalid("portal.default_language", "must be \"en\" or \"sw\""))?;
        languages.push(default);
        for l in &self.portal.languages {
            let lang = Language::from_tag(l)
                .filter(|_| l.len() <= 8)
                .ok_or_else(|| invalid("portal.languages", "may list only \"en\" and \"sw\""))?;
            if !languages.contains(&lang) {
                languages.push(lang);
            }
        }
        if !self.portal.languages.is_empty()
            && !self
                .portal
                .languages
                .iter()
                .any(|l| Language::from_tag(l) == Some(default))
        {
            return Err(invalid(
                "portal.default_language",
                "must be one of portal.languages",
            ));
        }
        if !(512..=65_536).contains(&self.portal.max_body_bytes) {
            return Err(invalid(
                "portal.max_body_bytes",
                "must be between 512 and 65536",
            ));
        }
        let neighbour_source = match self.clients.neighbour_source.as_str() {
            "kernel" => NeighbourSource::Kernel,
            "leases" => NeighbourSource::Leases,
            _ => {
                return Err(invalid(
                    "clients.neighbour_source",
                    "must be \"kernel\" or \"leases\"",
                ));
            }
        };
        if self.clients.lease_file.as_os_str().is_empty() {
            return Err(invalid("clients.lease_file", "must name a file"));
        }
        let v = self.vouchers;
        if !(1..=100).contains(&v.max_failures) {
            return Err(invalid(
                "vouchers.max_failures",
                "must be between 1 and 100",
            ));
        }
        if !(1..=86_400).contains(&v.cooldown_seconds) {
            return Err(invalid(
                "vouchers.cooldown_seconds",
                "must be between 1 and 86400",
            ));
        }
        if v.max_cooldown_seconds < v.cooldown_seconds || v.max_cooldown_seconds > 604_800 {
            return Err(invalid(
                "vouchers.max_cooldown_seconds",
                "must be at least vouchers.cooldown_seconds and at most 604800",
            ));
        }
        if !(60..=604_800).contains(&self.sessions.idle_timeout_seconds) {
            return Err(invalid(
                "sessions.idle_timeout_seconds",
                "must be between 60 and 604800",
            ));
        }
        if !(1..=3600).contains(&self.sessions.accounting_interval_seconds) {
            return Err(invalid(
                "sessions.accounting_interval_seconds",
                "must be between 1 and 3600",
            ));
        }
        Ok(Config {
            base_url,
            portal_hosts,
            languages,
            max_body_bytes: self.portal.max_body_bytes,
            neighbour_source,
            lease_file: self.clients.lease_file,
            require_lease: self.clients.require_lease,
            capture: self.clients.capture,
            vouchers: VoucherSettings {
                max_failures: v.max_failures,
                cooldown_secs: i64::from(v.cooldown_seconds),
                max_cooldown_secs: i64::from(v.max_cooldown_seconds),
                down_kbps: v.down_kbps,
                up_kbps: v.up_kbps,
            },
            idle_timeout_secs: i64::from(self.sessions.idle_timeout_seconds),
            accounting_interval_secs: u64::from(self.sessions.accounting_interval_seconds),
            site_name,
            hotspot_id,
            lan_interface,
            lan_address,
            portal_listen,
            max_connections: self.portal.max_connections,
            store_path: self.store.path,
            branding: Branding {
                title: non_empty_text("branding.title", self.branding.title, 64)?,
                welcome: non_empty_text("branding.welcome", self.branding.welcome, 280)?,
                accent_color: accent.to_ascii_lowercase(),
                support_phone,
            },
            firewall: self.firewall.validate()?,
            cloud: self.cloud.validate()?,
            sync: self.sync.validate()?,
            radius: self.radius.validate()?,
        })
    }
}

fn non_empty_text(key: &'static str, value: String, max: usize) -> Result<String, ConfigError> {
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(key, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(key, "must not contain control characters"));
    }
    Ok(value)
}

/// The host part of an `http(s)://host[:port]/…` URL, without brackets.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        RawConfig::parse(text, Path::new("test.toml"))?.validate()
    }

    #[test]
    fn empty_file_is_a_working_default() {
        let c = parse("").unwrap();
        assert_eq!(c.portal_listen.port(), 2050);
        assert_eq!(c.lan_interface, "br-lan");
        assert_eq!(c.store_path, Path::new("/var/lib/hotspot/edge.db"));
        assert_eq!(c.base_url, "http://192.168.1.1:2050/");
        assert_eq!(c.languages, [Language::English, Language::Swahili]);
        assert!(c.require_lease);
        assert_eq!(c.vouchers.max_failures, 5);
    }

    #[test]
    fn base_url_sets_the_portal_host() {
        let c = parse("[portal]\nbase_url = \"https://wifi.example.co.ke\"").unwrap();
        assert_eq!(c.base_url, "https://wifi.example.co.ke/");
        assert_eq!(c.portal_hosts[0], "wifi.example.co.ke");
        let c = parse("[portal]\nlanguages = [\"sw\", \"en\"]\ndefault_language = \"sw\"").unwrap();
        assert_eq!(c.languages, [Language::Swahili, Language::English]);
    }

    #[test]
    fn the_printed_example_parses_to_the_defaults() {
        let example = parse(EXAMPLE).unwrap();
        let default = parse("").unwrap();
        assert_eq!(format!("{example:?}"), format!("{default:?}"));
    }

    #[test]
    fn unknown_keys_are_errors_not_ignored() {
        let err = parse("[portal]\nlisten = \"0.0.0.0:80\"\nlsten = 1\n").unwrap_err();
        assert!(err.to_string().contains("lsten"), "{err}");
        let err = parse("[portl]\n").unwrap_err();
        assert!(err.to_string().contains("portl"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[portal]\nlisten = \"nowhere\"", "portal.listen"),
            ("[lan]\naddress = \"192.168.1\"", "lan.address"),
            ("[lan]\ninterface = \"br lan\"", "lan.interface"),
            ("[site]\nname = \"  \"", "site.name"),
            ("[site]\nhotspot_id = \"abc\"", "site.hotspot_id"),
            (
                "[branding]\naccent_color = \"red;}body{\"",
                "branding.accent_color",
            ),
            (
                "[branding]\nsupport_phone = \"<script>\"",
                "branding.support_phone",
            ),
            ("[portal]\nmax_connections = 0", "portal.max_connections"),
            ("[portal]\nbase_url = \"ftp://x\"", "portal.base_url"),
            ("[portal]\nlanguages = [\"fr\"]", "portal.languages"),
            (
                "[portal]\nlanguages = [\"sw\"]\ndefault_language = \"en\"",
                "portal.default_language",
            ),
            ("[portal]\nmax_body_bytes = 1", "portal.max_body_bytes"),
            (
                "[clients]\nneighbour_source = \"pnet\"",
                "clients.neighbour_source",
            ),
            ("[vouchers]\nmax_failures = 0", "vouchers.max_failures"),
            (
                "[vouchers]\ncooldown_seconds = 60\nmax_cooldown_seconds = 10",
                "vouchers.max_cooldown_seconds",
            ),
            (
                "[sessions]\nidle_timeout_seconds = 1",
                "sessions.idle_timeout_seconds",
            ),
            (
                "[sessions]\naccounting_interval_seconds = 0",
                "sessions.accounting_interval_seconds",
            ),
            ("[radius]\nenabled = true", "radius.auth_servers"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.to_string().starts_with(key), "{text}: {err}");
        }
    }

    #[test]
    fn wrong_types_are_reported_with_the_file() {
        let err = parse("[portal]\nlisten = 2050").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(err.to_string().starts_with("test.toml"), "{err}");
    }
}
