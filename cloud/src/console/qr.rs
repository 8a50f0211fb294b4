//! QR codes as inline SVG: only attributes (no style), so the Content-Security-Policy allows them.

use qrcode::QrCode;
use qrcode::render::svg;

/// `text` as an SVG QR code at least `size` pixels wide, with `label` as its accessible name;
/// `None` if the text is too long for a QR code.
pub fn svg(text: &str, size: u32, label: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration; the <svg> gets a role and a title.
    let start = image.find("<svg")?;
    let body = &image[start..];
    let close = body.find('>')?;
    Some(format!(
        "{} role=\"img\" aria-label=\"{}\" class=\"qr\">{}",
        &body[..close],
        escape(label),
        &body[close + 1..]
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_inline_svg_without_styles() {
        let s = svg("ABCD-EFGH-JKLM", 160, "claim \"code\"").unwrap();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("aria-label=\"claim &quot;code&quot;\""));
        assert!(!s.contains("style") && !s.contains("<?xml"));
    }
}
