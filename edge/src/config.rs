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
        Ok(Config {
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
