//! The console's static files, embedded in the binary and served under content-hashed names
//! (`console.<hash>.css`) with a one-year immutable cache: a new build changes the name, so a
//! browser never keeps an old file. Any other name is 404.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The name it is served under, with its hash (`htmx.<hash>.js`).
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The files: (stem, extension, content type, bytes).
const FILES: &[(&str, &str, &str, &[u8])] = &[
    (
        "console",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
    (
        "htmx-2.0.11",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/htmx-2.0.11.min.js"),
    ),
];

/// Every embedded file with its hashed name (computed once).
pub fn all() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(stem, ext, content_type, bytes)| {
                let digest = Sha256::digest(bytes);
                let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                Asset {
                    name: format!("{stem}.{hash}.{ext}"),
                    content_type,
                    bytes,
                }
            })
            .collect()
    })
}

/// The URL of the file whose name starts with `stem.`.
pub fn url(stem: &str) -> String {
    let asset = all()
        .iter()
        .find(|a| a.name.starts_with(stem) && a.name[stem.len()..].starts_with('.'))
        .expect("an embedded asset");
    format!("/console/assets/{}", asset.name)
}

/// `GET /console/assets/{name}`
pub async fn serve(Path(name): Path<String>) -> Response {
    match all().iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            a.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        let css = url("console");
        assert!(css.starts_with("/console/assets/console.") && css.ends_with(".css"));
        assert!(url("htmx-2.0.11").ends_with(".js"));
        assert_eq!(all().len(), FILES.len());
    }

    /// The vendored htmx is the file its note names, byte for byte.
    #[test]
    fn vendored_htmx_matches_its_recorded_hash() {
        let note = include_str!("../../assets/console/README.md");
        let js = FILES.iter().find(|f| f.0 == "htmx-2.0.11").unwrap().3;
        let hex: String = Sha256::digest(js)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(note.contains(&hex), "htmx.min.js is not the recorded file");
    }
}
