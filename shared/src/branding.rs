//! A tenant's portal branding: what the cloud stores, checks and sends to its routers, and the
//! rules both sides apply to it.
//!
//! The texts and the colour are written into the portal's page (the colour into its style), so
//! they are checked as strictly as the edge's own `[branding]` configuration. A logo is a PNG or
//! a JPEG of at most [`MAX_LOGO_BYTES`], recognised by its magic bytes, with its dimensions read
//! from the header; anything else (SVG above all: it can carry script) is refused.

use serde::{Deserialize, Serialize};

/// Largest logo stored or sent (routers have little flash).
pub const MAX_LOGO_BYTES: usize = 32 * 1024;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 64;

/// Longest welcome text, in characters.
pub const MAX_WELCOME: usize = 280;

/// Longest support phone number, in bytes.
pub const MAX_PHONE: usize = 20;

/// Largest logo side in pixels (a portal logo is small; this only refuses absurd headers).
pub const MAX_LOGO_SIDE: u32 = 4096;

/// The portal branding a router applies over its configuration's `[branding]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Increases with every change in the cloud.
    pub version: i64,
    pub title: String,
    pub welcome: String,
    /// `#rrggbb`, lower case.
    pub accent_color: String,
    pub support_phone: Option<String>,
    pub logo: Option<Logo>,
}

/// A logo as sent to a router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logo {
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// Lower-case hex SHA-256 of the bytes (the portal names the file by it).
    pub sha256: String,
    /// The bytes, standard base64.
    pub data: String,
}

/// Why a branding value was refused: the field and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BrandingError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> BrandingError {
    BrandingError {
        field,
        message: message.into(),
    }
}

/// A required text: trimmed, not empty, at most `max` characters, no control characters.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, BrandingError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(refuse(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A colour in `#rrggbb` form, returned in lower case.
pub fn color(field: &'static str, value: &str) -> Result<String, BrandingError> {
    let v = value.trim();
    if v.len() == 7 && v.starts_with('#') && v[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(refuse(field, "must be a colour like #0a7d55"))
    }
}

/// A support phone number: digits, spaces, `+` and `-`, at most [`MAX_PHONE`]; empty is none.
pub fn phone(field: &'static str, value: &str) -> Result<Option<String>, BrandingError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() > MAX_PHONE
        || !v.bytes().any(|b| b.is_ascii_digit())
        || !v.bytes().all(|b| b.is_ascii_digit() || b" +-".contains(&b))
    {
        return Err(refuse(field, "must be a phone number"));
    }
    Ok(Some(v.to_owned()))
}

/// An image the portal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Recognises a PNG or JPEG logo by its magic bytes and reads its dimensions from its header.
/// Refuses anything else (SVG, GIF, WebP, text), an empty or oversized file, and a header that
/// does not hold together.
pub fn logo(bytes: &[u8]) -> Result<ImageInfo, BrandingError> {
    const FIELD: &str = "logo";
    if bytes.is_empty() {
        return Err(refuse(FIELD, "is empty"));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(refuse(
            FIELD,
            format!("must be at most {} KiB", MAX_LOGO_BYTES / 1024),
        ));
    }
    let info = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        jpeg(bytes)
    } else {
        return Err(refuse(FIELD, "must be a PNG or JPEG image"));
    }
    .ok_or_else(|| refuse(FIELD, "is not a readable PNG or JPEG image"))?;
    if info.width == 0
        || info.height == 0
        || info.width > MAX_LOGO_SIDE
        || info.height > MAX_LOGO_SIDE
    {
        return Err(refuse(
            FIELD,
            format!("must be between 1 and {MAX_LOGO_SIDE} pixels on each side"),
        ));
    }
    Ok(info)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

/// PNG: the first chunk is IHDR (length 13), width and height big-endian after its type.
fn png(b: &[u8]) -> Option<ImageInfo> {
    if be32(b, 8)? != 13 || b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some(ImageInfo {
        content_type: "image/png",
        width: be32(b, 16)?,
        height: be32(b, 20)?,
    })
}

/// JPEG: walks the segments to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC),
/// whose payload holds precision, height and width.
fn jpeg(b: &[u8]) -> Option<ImageInfo> {
    let mut at = 2;
    loop {
        if *b.get(at)? != 0xff {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            0xff => {
                at += 1; // fill byte
                continue;
            }
            0xd8 | 0x01 | 0xd0..=0xd7 => {
                at += 2; // no length
                continue;
            }
            0xd9 | 0xda => return None, // end of image or scan before any frame header
            _ => {}
        }
        let len = usize::try_from(be16(b, at + 2)?).ok()?;
        if len < 2 {
            return None;
        }
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            return Some(ImageInfo {
                content_type: "image/jpeg",
                height: be16(b, at + 5)?,
                width: be16(b, at + 7)?,
            });
        }
        at += 2 + len;
    }
}

/// Decodes standard base64 (RFC 4648: `+` and `/`, `=` padding optional); `None` for any other
/// character or an impossible length. Small on purpose: the router decodes one logo per change
/// and carries no base64 library.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG (as an image editor writes it).
    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    /// The header of a 300×120 baseline JPEG: SOI, APP0 (JFIF), SOF0.
    fn jpeg_300x120() -> Vec<u8> {
        let mut j = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        j.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x78, 0x01, 0x2c, 0x03]);
        j.extend_from_slice(&[0; 9]);
        j.extend_from_slice(&[0xff, 0xd9]);
        j
    }

    #[test]
    fn png_and_jpeg_dimensions_are_read_from_the_header() {
        assert_eq!(
            logo(PNG_1X1).unwrap(),
            ImageInfo {
                content_type: "image/png",
                width: 1,
                height: 1
            }
        );
        assert_eq!(
            logo(&jpeg_300x120()).unwrap(),
            ImageInfo {
                content_type: "image/jpeg",
                width: 300,
                height: 120
            }
        );
    }

    #[test]
    fn other_files_and_broken_headers_are_refused() {
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        assert!(logo(svg).unwrap_err().message.contains("PNG or JPEG"));
        assert!(logo(b"GIF89a\x01\x00\x01\x00").is_err());
        assert!(logo(b"").is_err());
        // Magic bytes then nonsense, and every cut of a good header.
        assert!(logo(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDX\0\0\0\x01\0\0\0\x01").is_err());
        for cut in 0..24 {
            assert!(logo(&PNG_1X1[..cut]).is_err(), "png cut at {cut}");
        }
        let j = jpeg_300x120();
        for cut in 0..27 {
            assert!(logo(&j[..cut]).is_err(), "jpeg cut at {cut}");
        }
        // A zero-sized or absurd image.
        let mut zero = PNG_1X1.to_vec();
        zero[19] = 0;
        assert!(logo(&zero).is_err());
        let mut huge = PNG_1X1.to_vec();
        huge[16] = 0x7f;
        assert!(logo(&huge).is_err());
        // Too large, however good the header.
        let mut big = PNG_1X1.to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(logo(&big).unwrap_err().message.contains("32 KiB"));
        big.truncate(MAX_LOGO_BYTES);
        assert!(logo(&big).is_ok());
    }

    #[test]
    fn base64_decodes_as_rfc_4648_says() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("Zm9vYg", b"foob"),
            ("+/+/", &[0xfb, 0xff, 0xbf]),
        ] {
            assert_eq!(decode_base64(text).as_deref(), Some(bytes), "{text}");
        }
        for bad in ["Z", "Zm9vY", "Zm9v!", "Zm 9v", "Zm9v\n"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
        assert_eq!(decode_base64(&hex_png_b64()).unwrap(), PNG_1X1);
    }

    fn hex_png_b64() -> String {
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
            .into()
    }

    #[test]
    fn texts_colours_and_phones_are_checked() {
        assert_eq!(
            text("title", "  Mama Mboga WiFi ", 64).unwrap(),
            "Mama Mboga WiFi"
        );
        assert!(text("title", "   ", 64).is_err());
        assert!(text("title", &"x".repeat(65), 64).is_err());
        assert!(text("title", "a\u{7}b", 64).is_err());
        assert_eq!(color("accent_color", "#0A7D55").unwrap(), "#0a7d55");
        for bad in ["red", "#0a7d5", "#0a7d55;}", "0a7d55f", "#0a7d5g", ""] {
            assert!(color("accent_color", bad).is_err(), "{bad}");
        }
        assert_eq!(phone("support_phone", "").unwrap(), None);
        assert_eq!(
            phone("support_phone", "+254 700 000000")
                .unwrap()
                .as_deref(),
            Some("+254 700 000000")
        );
        for bad in ["<script>", "+254 700 000 000 000 00", "---"] {
            assert!(phone("support_phone", bad).is_err(), "{bad}");
        }
    }
}
