//! The `[cloud]` and `[sync]` sections of the configuration file.

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

/// `[sync]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSync {
    pub outbox_max_events: u64,
    pub outbox_max_bytes: u64,
    pub session_update_seconds: u32,
    pub report_seconds: u32,
    pub interval_seconds: u32,
}

impl Default for RawSync {
    fn default() -> Self {
        let bound = crate::store::outbox::Bound::default();
        RawSync {
            outbox_max_events: bound.max_events,
            outbox_max_bytes: bound.max_bytes,
            session_update_seconds: 300,
            report_seconds: 3600,
            interval_seconds: 30,
        }
    }
}

/// The validated `[sync]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// How much the outbox may hold before the oldest analytics events are dropped.
    pub bound: crate::store::outbox::Bound,
    /// A live session's totals are reported at most this often.
    pub session_update_secs: i64,
    /// The day's analytics and the router's health are reported this often.
    pub report_secs: i64,
    /// Push and pull this often while all is well.
    pub interval_secs: u64,
}

impl RawSync {
    pub fn validate(self) -> Result<SyncConfig, ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.into(),
        };
        if !(100..=10_000_000).contains(&self.outbox_max_events) {
            return Err(invalid(
                "sync.outbox_max_events",
                "must be between 100 and 10000000",
            ));
        }
        if !(65_536..=1 << 34).contains(&self.outbox_max_bytes) {
            return Err(invalid(
                "sync.outbox_max_bytes",
                "must be between 65536 and 17179869184",
            ));
        }
        if !(30..=86_400).contains(&self.session_update_seconds) {
            return Err(invalid(
                "sync.session_update_seconds",
                "must be between 30 and 86400",
            ));
        }
        if !(60..=86_400).contains(&self.report_seconds) {
            return Err(invalid(
                "sync.report_seconds",
                "must be between 60 and 86400",
            ));
        }
        if !(1..=3600).contains(&self.interval_seconds) {
            return Err(invalid(
                "sync.interval_seconds",
                "must be between 1 and 3600",
            ));
        }
        Ok(SyncConfig {
            bound: crate::store::outbox::Bound {
                max_events: self.outbox_max_events,
                max_bytes: self.outbox_max_bytes,
            },
            session_update_secs: i64::from(self.session_update_seconds),
            report_secs: i64::from(self.report_seconds),
            interval_secs: u64::from(self.interval_seconds),
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

    #[test]
    fn sync_defaults_fit_a_small_router_and_bad_values_are_named() {
        let c = RawSync::default().validate().unwrap();
        assert_eq!(c.bound.max_events, 5_000);
        assert_eq!(c.bound.max_bytes, 1 << 20);
        let err = RawSync {
            outbox_max_bytes: 10,
            ..RawSync::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().starts_with("sync.outbox_max_bytes"),
            "{err}"
        );
    }
}
