//! The `[radius]` section of the configuration file: hotspotd as a RADIUS NAS.
//!
//! Off by default. When `enabled = false` the rest of the section is not checked and nothing in
//! the daemon changes; when it is on, every key is checked before anything starts, so a bad
//! value stops `hotspotd config check` and `hotspotd run` with the key named.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use hotspot_shared::MacAddr;

use crate::config::ConfigError;

/// The standard ports (RFC 2865, 2866).
pub const AUTH_PORT: u16 = 1812;
pub const ACCT_PORT: u16 = 1813;
/// RadSec's port (RFC 6614 §2.1).
pub const RADSEC_PORT: u16 = 2083;
/// The shared secret over TLS (RFC 6614 §2.3): TLS protects the packets, not the secret.
pub const RADSEC_SECRET: &[u8] = b"radsec";

/// Shortest shared secret accepted: short secrets fall to an offline brute force from one
/// captured exchange (BlastRADIUS, CVE-2024-3596, found 8 characters in about an hour).
pub const MIN_SECRET: usize = 16;

/// `[radius]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRadius {
    pub enabled: bool,
    pub auth_servers: Vec<String>,
    pub acct_servers: Vec<String>,
    pub secret: String,
    pub nas_identifier: String,
    pub nas_ip_address: Option<String>,
    pub timeout_ms: u32,
    pub retries: u32,
    pub interim_interval_seconds: u32,
    pub mac_format: String,
    pub called_station_id: String,
    pub login: String,
    pub das_listen: Option<String>,
    pub das_clients: Vec<String>,
    pub status_server_interval_seconds: u32,
    pub mac_auth: bool,
    pub radsec_ca: Option<String>,
    pub radsec_cert: Option<String>,
    pub radsec_key: Option<String>,
    pub radsec_server_name: Option<String>,
}

impl Default for RawRadius {
    fn default() -> Self {
        RawRadius {
            enabled: false,
            auth_servers: Vec::new(),
            acct_servers: Vec::new(),
            secret: String::new(),
            nas_identifier: "hotspotd".into(),
            nas_ip_address: None,
            timeout_ms: 3000,
            retries: 2,
            interim_interval_seconds: 600,
            mac_format: "AA-BB-CC-DD-EE-FF".into(),
            called_station_id: String::new(),
            login: "local-then-radius".into(),
            das_listen: None,
            das_clients: Vec::new(),
            status_server_interval_seconds: 30,
            mac_auth: false,
            radsec_ca: None,
            radsec_cert: None,
            radsec_key: None,
            radsec_server_name: None,
        }
    }
}

/// How a MAC address is written in Calling-Station-Id and in a MAC-authentication User-Name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacFormat {
    /// Upper-case hex digits.
    pub upper: bool,
    /// The separator between octets: `-`, `:`, or none.
    pub separator: Option<char>,
}

impl MacFormat {
    /// The forms accepted in `mac_format`, shown with the address 00:11:22:aa:bb:cc written in
    /// each style.
    pub const CHOICES: &'static str = "\"AA-BB-CC-DD-EE-FF\", \"aa-bb-cc-dd-ee-ff\", \
        \"AA:BB:CC:DD:EE:FF\", \"aa:bb:cc:dd:ee:ff\", \"AABBCCDDEEFF\" or \"aabbccddeeff\"";

    fn parse(s: &str) -> Option<Self> {
        let (sample_upper, sample_lower) = ("AABBCCDDEEFF", "aabbccddeeff");
        let plain: String = s.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        let upper = if plain == sample_upper {
            true
        } else if plain == sample_lower {
            false
        } else {
            return None;
        };
        let separator = match s.len() {
            12 => None,
            17 => {
                let sep = s.chars().nth(2)?;
                if !matches!(sep, '-' | ':')
                    || s.chars()
                        .enumerate()
                        .any(|(i, c)| (i % 3 == 2) != (c == sep))
                {
                    return None;
                }
                Some(sep)
            }
            _ => return None,
        };
        Some(MacFormat { upper, separator })
    }

    /// `mac` written in this format.
    pub fn format(self, mac: MacAddr) -> String {
        let mut out = String::with_capacity(17);
        for (i, b) in mac.octets().iter().enumerate() {
            if i > 0
                && let Some(sep) = self.separator
            {
                out.push(sep);
            }
            if self.upper {
                out.push_str(&format!("{b:02X}"));
            } else {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out
    }
}

/// Which source a portal login tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOrder {
    /// Voucher codes are checked locally only; RADIUS serves the username and password form.
    Local,
    /// Every code goes to the RADIUS server; the local store is not asked.
    Radius,
    /// A code the local store does not know goes to the RADIUS server.
    LocalThenRadius,
}

/// The shared secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// RadSec (RFC 6614): the servers are reached over TLS on TCP, with a client certificate.
#[derive(Clone)]
pub struct RadSec {
    /// The CA certificates the server's certificate must chain to (only these are trusted).
    pub ca: std::path::PathBuf,
    /// This router's certificate chain and its key.
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// The name the server's certificate must carry; `None`: its IP address.
    pub server_name: Option<String>,
    /// The TLS settings built from the files above when the configuration was checked.
    pub tls: std::sync::Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for RadSec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadSec")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for RadSec {
    fn eq(&self, other: &Self) -> bool {
        (&self.ca, &self.cert, &self.key, &self.server_name)
            == (&other.ca, &other.cert, &other.key, &other.server_name)
    }
}
impl Eq for RadSec {}

impl RadSec {
    /// The name the server's certificate is checked against when it is at `server`.
    pub fn server_name(&self, server: SocketAddr) -> rustls::pki_types::ServerName<'static> {
        match &self.server_name {
            Some(n) => rustls::pki_types::ServerName::try_from(n.clone())
                .unwrap_or_else(|_| server.ip().into()),
            None => server.ip().into(),
        }
    }
}

/// A PEM file's certificates (at least one).
fn pem_certs(
    key: &'static str,
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ConfigError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(
                key,
                format!("cannot read certificates from {}: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// An absolute path from `key`, which must be set when RadSec is used.
fn tls_path(key: &'static str, v: Option<String>) -> Result<std::path::PathBuf, ConfigError> {
    match v.as_deref().map(str::trim) {
        Some(p) if p.starts_with('/') => Ok(p.into()),
        Some(p) if !p.is_empty() => {
            Err(invalid(key, format!("must be an absolute path, not {p:?}")))
        }
        _ => Err(invalid(
            key,
            "must be set when the servers are radsec:// URLs",
        )),
    }
}

fn radsec(raw: &mut RawRadius) -> Result<RadSec, ConfigError> {
    use rustls::pki_types::{PrivateKeyDer, pem::PemObject};
    let ca = tls_path("radius.radsec_ca", raw.radsec_ca.take())?;
    let cert = tls_path("radius.radsec_cert", raw.radsec_cert.take())?;
    let key = tls_path("radius.radsec_key", raw.radsec_key.take())?;
    let server_name = match raw.radsec_server_name.take().as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) => {
            if rustls::pki_types::ServerName::try_from(n).is_err() {
                return Err(invalid(
                    "radius.radsec_server_name",
                    format!("{n:?} is not a host name or IP address"),
                ));
            }
            Some(n.to_owned())
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs("radius.radsec_ca", &ca)? {
        roots
            .add(c)
            .map_err(|e| invalid("radius.radsec_ca", format!("{}: {e}", ca.display())))?;
    }
    let chain = pem_certs("radius.radsec_cert", &cert)?;
    let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
        invalid(
            "radius.radsec_key",
            format!("cannot read a PEM private key from {}: {e}", key.display()),
        )
    })?;
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, private)
        .map_err(|e| {
            invalid(
                "radius.radsec_key",
                format!("does not go with radius.radsec_cert: {e}"),
            )
        })?;
    Ok(RadSec {
        ca,
        cert,
        key,
        server_name,
        tls: std::sync::Arc::new(tls),
    })
}

/// The validated `[radius]` section (present only when it is enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusConfig {
    /// Authentication servers in order of preference: the second is the failover.
    pub auth_servers: Vec<SocketAddr>,
    /// Accounting servers in the same order.
    pub acct_servers: Vec<SocketAddr>,
    pub secret: Secret,
    /// NAS-Identifier in every request.
    pub nas_identifier: String,
    /// NAS-IP-Address in every request, when set.
    pub nas_ip_address: Option<Ipv4Addr>,
    /// How long to wait for a reply before sending again.
    pub timeout: Duration,
    /// Retransmissions to one server before trying the next.
    pub retries: u32,
    /// Interim-Update interval when the Access-Accept names none, seconds (≥ 60, RFC 2869).
    pub interim_interval_secs: u32,
    /// How Calling-Station-Id (the guest's MAC) is written.
    pub mac_format: MacFormat,
    /// Called-Station-Id: the SSID or the hotspot's name as the server expects it.
    pub called_station_id: String,
    /// What a voucher code on the portal tries.
    pub login: LoginOrder,
    /// Where the Dynamic Authorization server (RFC 5176) listens; `None`: not at all.
    pub das_listen: Option<SocketAddr>,
    /// Addresses Disconnect and CoA requests are taken from (default: the servers').
    pub das_clients: Vec<IpAddr>,
    /// How often a server that left a request unanswered is asked Status-Server (RFC 5997);
    /// `None`: never (failover is then decided per request only).
    pub status_server_interval: Option<Duration>,
    /// Whether a device this router does not know is asked about at the RADIUS server with its
    /// MAC as User-Name (MAC authentication) before the portal is shown to it.
    pub mac_auth: bool,
    /// Set when the servers are `radsec://` URLs: every server is then reached over TLS, with
    /// the shared secret [`RADSEC_SECRET`].
    pub radsec: Option<RadSec>,
}

impl RadiusConfig {
    /// The shared secret of the requests to the servers.
    pub fn server_secret(&self) -> &[u8] {
        if self.radsec.is_some() {
            RADSEC_SECRET
        } else {
            &self.secret.0
        }
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// An IP address with an optional port (`192.0.2.1`, `192.0.2.1:1812`, `[2001:db8::1]:1812`).
/// Names are refused: a static router build has no resolver library to look them up with.
fn server_addr(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return (a.port() != 0).then_some(a);
    }
    text.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// A list of servers, and whether they are `radsec://` URLs (all of them or none).
fn servers(
    key: &'static str,
    list: &[String],
    default_port: u16,
) -> Result<(Vec<SocketAddr>, bool), ConfigError> {
    if list.len() > 2 {
        return Err(invalid(
            key,
            "lists at most two servers (the second is the failover)",
        ));
    }
    let mut tls = None;
    let mut out = Vec::new();
    for s in list {
        let (text, is_tls, port) = match s.trim().strip_prefix("radsec://") {
            Some(rest) => (rest.trim_end_matches('/'), true, RADSEC_PORT),
            None => (s.trim(), false, default_port),
        };
        if tls.is_some_and(|t| t != is_tls) {
            return Err(invalid(
                key,
                "mixes radsec:// URLs and UDP addresses: list servers of one kind",
            ));
        }
        tls = Some(is_tls);
        out.push(server_addr(text, port).ok_or_else(|| {
            invalid(
                key,
                format!(
                    "{s:?} is not an IP address with an optional port, such as \
                     192.0.2.10:{default_port}, or a RadSec URL such as radsec://192.0.2.10:{RADSEC_PORT}"
                ),
            )
        })?);
    }
    Ok((out, tls.unwrap_or(false)))
}

impl RawRadius {
    /// `None` when the section is off; otherwise every key checked.
    pub fn validate(mut self) -> Result<Option<RadiusConfig>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let (auth_servers, tls) = servers("radius.auth_servers", &self.auth_servers, AUTH_PORT)?;
        if auth_servers.is_empty() {
            return Err(invalid(
                "radius.auth_servers",
                "must list one or two servers when radius.enabled is true",
            ));
        }
        let (mut acct_servers, acct_tls) =
            servers("radius.acct_servers", &self.acct_servers, ACCT_PORT)?;
        if acct_servers.is_empty() {
            // Over RadSec one port carries both kinds of request.
            acct_servers = auth_servers
                .iter()
                .map(|a| SocketAddr::new(a.ip(), if tls { a.port() } else { ACCT_PORT }))
                .collect();
        } else if acct_tls != tls {
            return Err(invalid(
                "radius.acct_servers",
                "must be radsec:// URLs exactly when radius.auth_servers are",
            ));
        }
        let radsec = if tls { Some(radsec(&mut self)?) } else { None };
        // Over RadSec the secret is "radsec"; `secret` is then needed only by the DAS (UDP).
        let secret_needed = !tls
            || self
                .das_listen
                .as_deref()
                .is_some_and(|d| !d.trim().is_empty());
        if (secret_needed || !self.secret.is_empty())
            && (self.secret.len() < MIN_SECRET || self.secret.len() > 128)
        {
            return Err(invalid(
                "radius.secret",
                format!(
                    "must be {MIN_SECRET} to 128 characters (shorter secrets can be brute-forced from one captured exchange)"
                ),
            ));
        }
        if self.secret.chars().any(char::is_control) {
            return Err(invalid(
                "radius.secret",
                "must not contain control characters",
            ));
        }
        let text = |key: &'static str, v: String, empty_ok: bool| -> Result<String, ConfigError> {
            let v = v.trim().to_owned();
            if (v.is_empty() && !empty_ok) || v.len() > 128 || v.chars().any(char::is_control) {
                let what = if empty_ok { "" } else { "1 " };
                return Err(invalid(
                    key,
                    format!("must be {what}to 128 characters without control characters"),
                ));
            }
            Ok(v)
        };
        let nas_identifier = text("radius.nas_identifier", self.nas_identifier, false)?;
        let called_station_id = text("radius.called_station_id", self.called_station_id, true)?;
        let nas_ip_address = match self.nas_ip_address {
            None => None,
            Some(a) => Some(a.trim().parse::<Ipv4Addr>().map_err(|_| {
                invalid(
                    "radius.nas_ip_address",
                    "must be an IPv4 address such as 192.0.2.1",
                )
            })?),
        };
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "radius.timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if self.retries > 10 {
            return Err(invalid("radius.retries", "must be between 0 and 10"));
        }
        if !(60..=86_400).contains(&self.interim_interval_seconds) {
            return Err(invalid(
                "radius.interim_interval_seconds",
                "must be between 60 and 86400 (RFC 2869: never below 60)",
            ));
        }
        let mac_format = MacFormat::parse(self.mac_format.trim()).ok_or_else(|| {
            invalid(
                "radius.mac_format",
                format!("must be one of {}", MacFormat::CHOICES),
            )
        })?;
        let login = match self.login.as_str() {
            "local" => LoginOrder::Local,
            "radius" => LoginOrder::Radius,
            "local-then-radius" => LoginOrder::LocalThenRadius,
            _ => {
                return Err(invalid(
                    "radius.login",
                    "must be \"local\", \"radius\" or \"local-then-radius\"",
                ));
            }
        };
        let das_listen = match self.das_listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "radius.das_listen",
                    "must be an address and port such as 0.0.0.0:3799",
                )
            })?),
        };
        let mut das_clients = Vec::new();
        for c in &self.das_clients {
            das_clients.push(c.trim().parse::<IpAddr>().map_err(|_| {
                invalid("radius.das_clients", format!("{c:?} is not an IP address"))
            })?);
        }
        if das_clients.is_empty() {
            das_clients = auth_servers.iter().map(SocketAddr::ip).collect();
            das_clients.dedup();
        }
        let status_server_interval = match self.status_server_interval_seconds {
            0 => None,
            s @ 5..=3600 => Some(Duration::from_secs(u64::from(s))),
            _ => {
                return Err(invalid(
                    "radius.status_server_interval_seconds",
                    "must be 0 (no probes) or between 5 and 3600",
                ));
            }
        };
        Ok(Some(RadiusConfig {
            radsec,
            status_server_interval,
            mac_auth: self.mac_auth,
            das_listen,
            das_clients,
            auth_servers,
            acct_servers,
            secret: Secret(self.secret.into_bytes()),
            nas_identifier,
            nas_ip_address,
            timeout: Duration::from_millis(u64::from(self.timeout_ms)),
            retries: self.retries,
            interim_interval_secs: self.interim_interval_seconds,
            mac_format,
            called_station_id,
            login,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawRadius {
        toml::from_str(text).unwrap()
    }

    const ON: &str =
        "enabled = true\nauth_servers = [\"192.0.2.10\"]\nsecret = \"0123456789abcdef\"\n";

    #[test]
    fn off_by_default_and_off_ignores_the_rest() {
        assert_eq!(RawRadius::default().validate().unwrap(), None);
        // Nothing is checked while it is off.
        assert_eq!(raw("secret = \"x\"").validate().unwrap(), None);
    }

    #[test]
    fn on_with_defaults() {
        let c = raw(ON).validate().unwrap().unwrap();
        assert_eq!(c.auth_servers, ["192.0.2.10:1812".parse().unwrap()]);
        assert_eq!(c.acct_servers, ["192.0.2.10:1813".parse().unwrap()]);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.retries, 2);
        assert_eq!(c.login, LoginOrder::LocalThenRadius);
        assert_eq!(c.status_server_interval, Some(Duration::from_secs(30)));
        assert!(!c.mac_auth);
        assert_eq!(format!("{:?}", c.secret), "Secret(..)");
        let mac: MacAddr = "00:11:22:aa:bb:cc".parse().unwrap();
        assert_eq!(c.mac_format.format(mac), "00-11-22-AA-BB-CC");
    }

    #[test]
    fn mac_formats() {
        let mac: MacAddr = "00:11:22:aa:bb:cc".parse().unwrap();
        for (f, want) in [
            ("aa:bb:cc:dd:ee:ff", "00:11:22:aa:bb:cc"),
            ("AA:BB:CC:DD:EE:FF", "00:11:22:AA:BB:CC"),
            ("aa-bb-cc-dd-ee-ff", "00-11-22-aa-bb-cc"),
            ("AABBCCDDEEFF", "001122AABBCC"),
            ("aabbccddeeff", "001122aabbcc"),
        ] {
            assert_eq!(MacFormat::parse(f).unwrap().format(mac), want, "{f}");
        }
        for bad in [
            "aa:bb-cc:dd:ee:ff",
            "AAbbCCDDEEFF",
            "aa.bb.cc.dd.ee.ff",
            "",
            "x",
        ] {
            assert_eq!(MacFormat::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("auth_servers = []", "radius.auth_servers"),
            ("auth_servers = [\"radius.example\"]", "radius.auth_servers"),
            (
                "auth_servers = [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\"]",
                "radius.auth_servers",
            ),
            ("acct_servers = [\"1.1.1.1:0\"]", "radius.acct_servers"),
            ("secret = \"short\"", "radius.secret"),
            ("nas_identifier = \" \"", "radius.nas_identifier"),
            ("nas_ip_address = \"::1\"", "radius.nas_ip_address"),
            ("timeout_ms = 0", "radius.timeout_ms"),
            ("retries = 11", "radius.retries"),
            (
                "interim_interval_seconds = 59",
                "radius.interim_interval_seconds",
            ),
            ("mac_format = \"aa.bb\"", "radius.mac_format"),
            ("login = \"remote\"", "radius.login"),
            ("das_listen = \"3799\"", "radius.das_listen"),
            ("das_clients = [\"radius.example\"]", "radius.das_clients"),
            (
                "status_server_interval_seconds = 4",
                "radius.status_server_interval_seconds",
            ),
        ] {
            // The later key wins in the merged text: drop the default line it replaces.
            let name = extra.split(' ').next().unwrap();
            let base: String = ON
                .lines()
                .filter(|l| !l.starts_with(name))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = raw(&format!("{base}{extra}\n")).validate().unwrap_err();
            assert!(err.to_string().starts_with(key), "{extra}: {err}");
        }
    }

    /// A CA and a client certificate it signed, written as PEM files into `dir`.
    fn tls_files(dir: &std::path::Path) -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["nas.example".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        (
            write("ca.pem", ca_cert.pem()),
            write("cert.pem", cert.pem()),
            write("key.pem", key.serialize_pem()),
        )
    }

    #[test]
    fn radsec_servers_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = tls_files(dir.path());
        let files = format!("radsec_ca = {ca:?}\nradsec_cert = {cert:?}\nradsec_key = {key:?}\n");
        let c = raw(&format!(
            "enabled = true\nauth_servers = [\"radsec://192.0.2.10\", \"radsec://192.0.2.11:2084/\"]\n{files}"
        ))
        .validate()
        .unwrap()
        .unwrap();
        let want: Vec<SocketAddr> = vec![
            "192.0.2.10:2083".parse().unwrap(),
            "192.0.2.11:2084".parse().unwrap(),
        ];
        // No secret needed; accounting over the same connections.
        assert_eq!(c.auth_servers, want);
        assert_eq!(c.acct_servers, want);
        assert_eq!(c.server_secret(), b"radsec");
        let tls = c.radsec.as_ref().unwrap();
        assert_eq!(
            tls.server_name(want[0]),
            rustls::pki_types::ServerName::from(want[0].ip())
        );
        // UDP servers never use the files, and keep their own secret.
        let c = raw(ON).validate().unwrap().unwrap();
        assert!(c.radsec.is_none());
        assert_eq!(c.server_secret(), b"0123456789abcdef");

        let radsec = "enabled = true\nauth_servers = [\"radsec://192.0.2.10\"]\n";
        for (extra, key_named) in [
            // One kind of server per list, and the same kind in both.
            (
                "auth_servers = [\"radsec://192.0.2.10\", \"192.0.2.11\"]".to_owned(),
                "radius.auth_servers",
            ),
            (
                format!("acct_servers = [\"192.0.2.10\"]\n{files}"),
                "radius.acct_servers",
            ),
            (String::new(), "radius.radsec_ca"),
            (
                format!("radsec_ca = {ca:?}\nradsec_cert = \"cert.pem\"\nradsec_key = {key:?}"),
                "radius.radsec_cert",
            ),
            (
                format!(
                    "radsec_ca = \"{}/missing.pem\"\nradsec_cert = {cert:?}\nradsec_key = {key:?}",
                    dir.path().display()
                ),
                "radius.radsec_ca",
            ),
            // A key that is not the certificate's.
            (
                format!("radsec_ca = {ca:?}\nradsec_cert = {ca:?}\nradsec_key = {key:?}"),
                "radius.radsec_key",
            ),
            (
                format!("radsec_ca = {ca:?}\nradsec_cert = {cert:?}\nradsec_key = {cert:?}"),
                "radius.radsec_key",
            ),
            (
                format!("{files}radsec_server_name = \"not a name\""),
                "radius.radsec_server_name",
            ),
            // The DAS is UDP: it needs a real secret.
            (
                format!("{files}das_listen = \"127.0.0.1:3799\""),
                "radius.secret",
            ),
        ] {
            let text = if extra.starts_with("auth_servers") {
                format!("enabled = true\n{extra}\n")
            } else {
                format!("{radsec}{extra}\n")
            };
            let err = raw(&text).validate().unwrap_err();
            assert!(err.to_string().starts_with(key_named), "{extra}: {err}");
        }
    }
}
