//! The `[firewall]` section of the configuration file, parsed strictly and validated.

use std::path::PathBuf;

use serde::Deserialize;

use super::render::Prefix;
use crate::config::ConfigError;

/// What enforces access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The product's nftables table (a router; needs CAP_NET_ADMIN).
    Nftables,
    /// Nothing is enforced: for trying the portal on a laptop. Sessions are still kept.
    Off,
}

/// `[firewall]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFirewall {
    pub backend: Backend,
    pub walled_garden: Vec<String>,
    pub stop_removes_clients: bool,
    pub nft: PathBuf,
}

impl Default for RawFirewall {
    fn default() -> Self {
        RawFirewall {
            backend: Backend::Nftables,
            walled_garden: Vec::new(),
            stop_removes_clients: false,
            nft: "nft".into(),
        }
    }
}

/// The validated `[firewall]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    pub backend: Backend,
    /// Address ranges guests reach before login.
    pub walled_garden: Vec<Prefix>,
    /// Whether stopping the daemon takes logged-in clients offline.
    pub stop_removes_clients: bool,
    /// The `nft` program.
    pub nft: PathBuf,
}

impl RawFirewall {
    pub fn validate(self) -> Result<FirewallConfig, ConfigError> {
        let walled_garden = self
            .walled_garden
            .iter()
            .map(|p| p.parse::<Prefix>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ConfigError::Invalid {
                key: "firewall.walled_garden",
                reason,
            })?;
        if self.nft.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "firewall.nft",
                reason: "must name the nft program".into(),
            });
        }
        Ok(FirewallConfig {
            backend: self.backend,
            walled_garden,
            stop_removes_clients: self.stop_removes_clients,
            nft: self.nft,
        })
    }
}

impl super::nft::NftSettings {
    /// The backend's settings for this daemon's configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        super::nft::NftSettings {
            layout: super::render::Layout {
                lan_interface: config.lan_interface.clone(),
                portal_port: config.portal_listen.port(),
                garden: config.firewall.walled_garden.clone(),
            },
            command: vec![config.firewall.nft.to_string_lossy().into_owned()],
            stop_removes_clients: config.firewall.stop_removes_clients,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::RawConfig;
    use crate::firewall::nft::NftSettings;

    #[test]
    fn the_section_is_optional_and_checked() {
        let c = RawConfig::parse("", Path::new("t.toml"))
            .unwrap()
            .validate()
            .unwrap();
        assert!(c.firewall.walled_garden.is_empty() && !c.firewall.stop_removes_clients);
        let c = RawConfig::parse(
            "[firewall]\nwalled_garden = [\"192.0.2.0/24\", \"2001:db8::1\"]\nstop_removes_clients = true\n",
            Path::new("t.toml"),
        )
        .unwrap()
        .validate()
        .unwrap();
        let s = NftSettings::from_config(&c);
        assert_eq!(s.layout.garden.len(), 2);
        assert_eq!(s.layout.portal_port, 2050);
        assert!(s.stop_removes_clients);
        for (text, key) in [
            (
                "[firewall]\nwalled_garden = [\"example.com\"]",
                "firewall.walled_garden",
            ),
            ("[firewall]\nnft = \"\"", "firewall.nft"),
        ] {
            let err = RawConfig::parse(text, Path::new("t.toml"))
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(err.to_string().starts_with(key), "{err}");
        }
        assert!(RawConfig::parse("[firewall]\nwalled = []", Path::new("t.toml")).is_err());
    }
}
