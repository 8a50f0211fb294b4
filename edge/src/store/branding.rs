//! The portal branding the cloud sent (table `branding`, one row at most).
//!
//! What arrives is checked again as the configuration's `[branding]` is (it is written into the
//! portal's page and style): texts, an `#rrggbb` colour, a phone number, and a PNG or JPEG logo
//! of at most 32 KiB whose SHA-256 matches the one sent. Only a newer version replaces what is
//! stored, so a page pulled again changes nothing. The portal keeps the texts in memory
//! ([`Look`]) with the logo's bytes (32 KiB at most): serving it reads no database.

use hotspot_shared::branding::{self as rules, Branding};
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::StoreError;

/// What the portal shows: the texts, the colour and which logo, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub title: String,
    pub welcome: String,
    /// `#rrggbb` (checked: it is written into the page's style).
    pub accent_color: String,
    pub support_phone: Option<String>,
    pub logo: Option<LogoFile>,
}

/// The logo as the portal serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoFile {
    /// Its file name under `/brand/` (`logo-<first 16 hex of its SHA-256>.png|jpg`).
    pub name: String,
    pub content_type: String,
    pub bytes: std::sync::Arc<[u8]>,
}

impl LogoFile {
    fn new(content_type: String, bytes: Vec<u8>, sha256: &str) -> Self {
        Self {
            name: logo_name(&content_type, sha256),
            content_type,
            bytes: bytes.into(),
        }
    }
}

impl Look {
    /// The configuration's `[branding]`: what the portal shows until the cloud sends one.
    pub fn of_config(b: &crate::config::Branding) -> Self {
        Self {
            title: b.title.clone(),
            welcome: b.welcome.clone(),
            accent_color: b.accent_color.clone(),
            support_phone: b.support_phone.clone(),
            logo: None,
        }
    }
}

/// The logo's file name for a content type and SHA-256 (hex).
pub fn logo_name(content_type: &str, sha256: &str) -> String {
    let ext = if content_type == "image/jpeg" {
        "jpg"
    } else {
        "png"
    };
    format!("logo-{}.{ext}", &sha256[..16.min(sha256.len())])
}

/// Why a branding from the cloud was not applied.
#[derive(Debug, thiserror::Error)]
pub enum BrandingRefused {
    #[error(transparent)]
    Invalid(#[from] rules::BrandingError),
    #[error("logo: its SHA-256 does not match the one sent")]
    Digest,
    #[error("logo: not base64")]
    Encoding,
}

/// A branding checked and decoded, ready to store.
#[derive(Debug)]
pub struct Checked {
    version: i64,
    look: Look,
    logo: Option<(String, Vec<u8>, String)>,
}

/// Checks a branding from the cloud as strictly as the configuration's.
pub fn check(b: &Branding) -> Result<Checked, BrandingRefused> {
    let title = rules::text("title", &b.title, rules::MAX_TITLE)?;
    let welcome = rules::text("welcome", &b.welcome, rules::MAX_WELCOME)?;
    let accent_color = rules::color("accent_color", &b.accent_color)?;
    let support_phone = rules::phone("support_phone", b.support_phone.as_deref().unwrap_or(""))?;
    let logo = match &b.logo {
        None => None,
        Some(l) => {
            if l.data.len() > rules::MAX_LOGO_BYTES / 3 * 4 + 8 {
                return Err(rules::BrandingError {
                    field: "logo",
                    message: "is too large".into(),
                }
                .into());
            }
            let bytes = rules::decode_base64(&l.data).ok_or(BrandingRefused::Encoding)?;
            let info = rules::logo(&bytes)?;
            let sha = rules::hex(&Sha256::digest(&bytes));
            if sha != l.sha256 {
                return Err(BrandingRefused::Digest);
            }
            Some((info.content_type.to_owned(), bytes, sha))
        }
    };
    Ok(Checked {
        version: b.version,
        look: Look {
            title,
            welcome,
            accent_color,
            support_phone,
            logo: logo
                .as_ref()
                .map(|(t, bytes, sha)| LogoFile::new(t.clone(), bytes.clone(), sha)),
        },
        logo,
    })
}

/// Stores `b` unless what is stored is as new. Returns the look to show when it was stored.
pub fn save(c: &Connection, b: &Checked, now: i64) -> Result<Option<Look>, StoreError> {
    let (logo_type, logo, sha) = match &b.logo {
        Some((t, bytes, sha)) => (Some(t.as_str()), Some(bytes.as_slice()), Some(sha.as_str())),
        None => (None, None, None),
    };
    let n = c
        .prepare_cached(
            "INSERT INTO branding (id, version, title, welcome, accent_color, support_phone,
                 logo, logo_type, logo_sha256, applied_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET
                 version = excluded.version, title = excluded.title,
                 welcome = excluded.welcome, accent_color = excluded.accent_color,
                 support_phone = excluded.support_phone, logo = excluded.logo,
                 logo_type = excluded.logo_type, logo_sha256 = excluded.logo_sha256,
                 applied_at = excluded.applied_at
             WHERE excluded.version > branding.version",
        )?
        .execute(rusqlite::params![
            b.version,
            b.look.title,
            b.look.welcome,
            b.look.accent_color,
            b.look.support_phone,
            logo,
            logo_type,
            sha,
            now,
        ])?;
    Ok((n > 0).then(|| b.look.clone()))
}

/// The stored branding's look, if the cloud sent one.
pub fn load(c: &Connection) -> Result<Option<Look>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT title, welcome, accent_color, support_phone, logo_type, logo, logo_sha256
         FROM branding WHERE id = 1",
    )?
    .query_row([], |r| {
        let logo = match (
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<Vec<u8>>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ) {
            (Some(t), Some(bytes), Some(sha)) => Some(LogoFile::new(t, bytes, &sha)),
            _ => None,
        };
        Ok(Look {
            title: r.get(0)?,
            welcome: r.get(1)?,
            accent_color: r.get(2)?,
            support_phone: r.get(3)?,
            logo,
        })
    })
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotspot_shared::branding::Logo;

    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";
    const PNG_SHA: &str = "4ff6ab670a58c14270e034e2090d9a432caa263a14e0a25785386b0c12f880b5";

    fn branding(version: i64, title: &str) -> Branding {
        Branding {
            version,
            title: title.into(),
            welcome: "Karibu".into(),
            accent_color: "#C0392B".into(),
            support_phone: None,
            logo: Some(Logo {
                content_type: "image/png".into(),
                sha256: PNG_SHA.into(),
                data: PNG.into(),
            }),
        }
    }

    #[test]
    fn only_a_newer_version_replaces_the_stored_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                stored_and_replaced(c);
                Ok(())
            })
            .unwrap();
    }

    fn stored_and_replaced(c: &Connection) {
        assert_eq!(load(c).unwrap(), None);
        let look = save(c, &check(&branding(2, "Two")).unwrap(), 10)
            .unwrap()
            .unwrap();
        assert_eq!(look.accent_color, "#c0392b");
        let logo = look.logo.as_ref().unwrap();
        assert_eq!(logo.name, "logo-4ff6ab670a58c142.png");
        assert_eq!(
            (logo.content_type.as_str(), logo.bytes.len()),
            ("image/png", 70)
        );
        assert_eq!(load(c).unwrap(), Some(look.clone()));
        // The same again or an older one: nothing changes.
        assert_eq!(
            save(c, &check(&branding(2, "Again")).unwrap(), 11).unwrap(),
            None
        );
        assert_eq!(
            save(c, &check(&branding(1, "Old")).unwrap(), 12).unwrap(),
            None
        );
        assert_eq!(load(c).unwrap().unwrap().title, "Two");

        // A newer one with another logo (a site's own, say) replaces the bytes and the file
        // name; a newer one without a logo drops it.
        let mut other = branding(3, "Three");
        // The 1×1 PNG with its IHDR width set to 2.
        let data = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";
        let png = rules::decode_base64(data).unwrap();
        let sha = rules::hex(&Sha256::digest(&png));
        other.logo = Some(Logo {
            content_type: "image/png".into(),
            sha256: sha.clone(),
            data: data.into(),
        });
        let look = save(c, &check(&other).unwrap(), 13).unwrap().unwrap();
        let logo = look.logo.as_ref().unwrap();
        assert_eq!(logo.name, format!("logo-{}.png", &sha[..16]));
        assert_eq!(&logo.bytes[..], &png[..]);
        assert_eq!(load(c).unwrap(), Some(look));
        let mut bare = branding(4, "Four");
        bare.logo = None;
        save(c, &check(&bare).unwrap(), 14).unwrap().unwrap();
        assert_eq!(load(c).unwrap().unwrap().logo, None);
    }

    #[test]
    fn a_branding_the_configuration_would_refuse_is_refused() {
        let mut b = branding(1, "x");
        b.accent_color = "red;}body{".into();
        assert!(check(&b).is_err());
        let mut b = branding(1, "x");
        b.support_phone = Some("<script>".into());
        assert!(check(&b).is_err());
        let mut b = branding(1, "x");
        b.logo.as_mut().unwrap().sha256 = "00".repeat(32);
        assert!(matches!(check(&b), Err(BrandingRefused::Digest)));
        let mut b = branding(1, "x");
        // `<svg onload="alert(1)"/>`
        b.logo.as_mut().unwrap().data = "PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+".into();
        assert!(matches!(check(&b), Err(BrandingRefused::Invalid(_))));
        let mut b = branding(1, "x");
        b.logo.as_mut().unwrap().data = "!!".into();
        assert!(matches!(check(&b), Err(BrandingRefused::Encoding)));
    }
}
