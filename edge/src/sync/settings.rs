//! The `[cloud]` section of the configuration file.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigError;

/// `[cloud]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCloud {
    pub url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub credential: PathBuf,
}

impl Default for RawCloud {
    fn default() -> Self {
        RawCloud {
            url: None,
            ca_file: None,
            credential: "/etc/hotspot/device.json".into(),
        }
    }
}

/// The validated `[cloud]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// The cloud's base URL; unset on a router that works alone.
    pub url: Option<String>,
    /// PEM of the CA to trust for the cloud instead of the system's store.
    pub ca_file: Option<PathBuf>,
    /// Where `hotspotd claim` keeps the device credential (mode 0600).
    pub credential: PathBuf,
}

/// Checks a cloud URL: HTTPS, or plain HTTP to this machine only (a cloud on the same host).
pub fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("must be a URL such as https://cloud.example")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name.is_empty() {
        return Err("must name a host".into());
    }
    let loopback = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("must be https:// (plain http only to this machine)".into()),
        _ => Err("must be https://".into()),
    }
}

impl RawCloud {
    pub fn validate(self) -> Result<CloudConfig, ConfigError> {
        if let Some(url) = &self.url {
            check_url(url).map_err(|reason| ConfigError::Invalid {
                key: "cloud.url",
                reason,
            })?;
        }
        if self.credential.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "cloud.credential",
                reason: "must name a file".into(),
            });
        }
        Ok(CloudConfig {
            url: self.url,
            ca_file: self.ca_file,
            credential: self.credential,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_urls_must_be_https_unless_local() {
        for ok in [
            "https://cloud.example",
            "https://cloud.example:8443/base/",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
            "http://localhost",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://cloud.example",
            "http://10.0.0.1/",
            "ftp://x",
            "cloud.example",
            "https://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
