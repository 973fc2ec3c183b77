//! SVG badges for READMEs: "free-threaded 3.14t | ready", coloured by readiness, sized
//! from the text so that nothing is clipped. Self-contained (no fonts or links fetched).

use std::fmt::Write;

use super::esc;

/// Approximate width in pixels of `text` at 11px Verdana-like sans-serif.
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | '.' | ',' | ':' | '|' | '!' | '\'' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            ' ' => 4,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

/// A two-part badge: a grey `label` and a `message` on `color`.
pub fn badge(label: &str, message: &str, color: &str) -> String {
    let lw = text_width(label) + 12;
    let mw = text_width(message) + 12;
    let w = lw + mw;
    let (label, message) = (esc(label), esc(message));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" viewBox="0 0 {w} 20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><rect width="{lw}" height="20" rx="3" fill="#444d56"/><rect x="{lw}" width="{mw}" height="20" rx="3" fill="{color}"/><rect x="{lw}" width="4" height="20" fill="{color}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="{}" y="14">{label}</text><text x="{}" y="14">{message}</text></g></svg>"##,
        lw / 2,
        lw + mw / 2
    );
    s
}
