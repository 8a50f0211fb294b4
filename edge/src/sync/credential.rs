//! The device credential on disk: the token `hotspotd claim` received, readable by root only.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a claimed router keeps.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The cloud it was claimed from.
    pub cloud_url: String,
    pub device_id: String,
    pub hotspot_id: String,
    /// Bearer token for the sync API. Never logged.
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("cloud_url", &self.cloud_url)
            .field("device_id", &self.device_id)
            .field("hotspot_id", &self.hotspot_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A credential file problem.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is readable by other users (mode {mode:o}); run chmod 600 on it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is not a credential file: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// Writes the credential with mode 0600, through a temporary file renamed into place, so a power
/// cut leaves the old file or the new one, never half of one.
pub fn save(path: &Path, credential: &Credential) -> Result<(), CredentialError> {
    let write = |source| CredentialError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(credential).map_err(|e| write(e.into()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write)?;
    // An existing file keeps its mode on open: set it explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(write)?;
    file.write_all(text.as_bytes()).map_err(write)?;
    file.sync_all().map_err(write)?;
    std::fs::rename(&tmp, path).map_err(write)?;
    Ok(())
}

/// Reads the credential, refusing a file other users can read.
pub fn load(path: &Path) -> Result<Credential, CredentialError> {
    let read = |source| CredentialError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    serde_json::from_str(&text).map_err(|e| CredentialError::Malformed {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credential {
        Credential {
            cloud_url: "https://cloud.example".into(),
            device_id: "d".into(),
            hotspot_id: "h".into(),
            token: "hsd_secret".into(),
        }
    }

    #[test]
    fn saved_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/device.json");
        save(&path, &sample()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap(), sample());
        assert!(!format!("{:?}", sample()).contains("hsd_secret"));
    }

    #[test]
    fn an_open_or_broken_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.json");
        save(&path, &sample()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(&path),
            Err(CredentialError::TooOpen { mode: 0o644, .. })
        ));
        save(&path, &sample()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            load(&path),
            Err(CredentialError::Malformed { .. })
        ));
    }
}
