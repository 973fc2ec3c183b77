//! SVG charts drawn as text: horizontal stacked bars of projects per readiness, and the
//! trend of the share of native projects that keeps the GIL off across crawl runs. Every chart carries a
//! `<title>` and `<desc>` for screen readers; the pages put the same numbers in a table.

use std::fmt::Write;

use super::data::{READINESS_ORDER, TrendPoint, keeps_gil_off};
use super::{esc, readiness_color, readiness_label};

const WIDTH: u32 = 640;
const LABEL_W: u32 = 90;
const ROW_H: u32 = 26;

/// Stacked horizontal bars, one row per label, segments by readiness (counts aligned with
/// [`READINESS_ORDER`]); each segment's `<title>` gives its count and share.
pub fn stacked_bars(id: &str, title: &str, rows: &[(String, Vec<u64>)]) -> String {
    let bar_w = WIDTH - LABEL_W - 10;
    let height = ROW_H * rows.len() as u32 + 52;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">"#,
        esc(title)
    );
    for (label, counts) in rows {
        let total: u64 = counts.iter().sum();
        let parts: Vec<String> = READINESS_ORDER
            .iter()
            .zip(counts)
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{} {n}", readiness_label(*r)))
            .collect();
        let _ = write!(s, "{}: {} of {total}. ", esc(label), parts.join(", "));
    }
    s.push_str("</desc>");
    for (i, (label, counts)) in rows.iter().enumerate() {
        let y = i as u32 * ROW_H + 4;
        let total: u64 = counts.iter().sum();
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>"#,
            LABEL_W - 8,
            y + 15,
            esc(label)
        );
        let mut x = f64::from(LABEL_W);
        for (r, n) in READINESS_ORDER.iter().zip(counts) {
            if *n == 0 || total == 0 {
                continue;
            }
            let w = f64::from(bar_w) * *n as f64 / total as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{}" fill="{}"><title>{}: {n} ({:.0}%)</title></rect>"#,
                ROW_H - 6,
                readiness_color(*r),
                readiness_label(*r),
                100.0 * *n as f64 / total as f64
            );
            x += w;
        }
        if total == 0 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" class="chart-label">no data</text>"#,
                LABEL_W,
                y + 15
            );
        }
    }
    // Legend: the readinesses drawn, wrapped onto a second line when they do not fit.
    let mut lx = 0u32;
    let mut ly = ROW_H * rows.len() as u32 + 14;
    let drawn = READINESS_ORDER
        .iter()
        .enumerate()
        .filter(|(k, _)| rows.iter().any(|(_, c)| c.get(*k).is_some_and(|n| *n > 0)))
        .map(|(_, r)| *r);
    for r in drawn {
        let label = readiness_label(r);
        let w = 16 + 7 * label.len() as u32 + 14;
        if lx > 0 && lx + w > WIDTH {
            lx = 0;
            ly += 18;
        }
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" class="chart-legend">{label}</text>"#,
            ly - 2,
            readiness_color(r),
            lx + 16,
            ly + 8
        );
        lx += w;
    }
    s.push_str("</svg>");
    s
}

/// Line colour and dash of the n-th interpreter (told apart by dash as well as colour).
fn series_style(i: usize) -> (&'static str, &'static str) {
    const STYLES: [(&str, &str); 4] = [
        ("#0550ae", ""),
        ("#953800", "6 4"),
        ("#116329", "2 3"),
        ("#6639ba", "8 3 2 3"),
    ];
    STYLES[i % STYLES.len()]
}

/// The share of each run's native projects whose headline keeps the GIL off (ready, or a
/// pure fallback wheel), one line per interpreter, runs left to right.
pub fn trend(id: &str, points: &[TrendPoint], pythons: &[String]) -> String {
    let (h, top, left, bottom) = (240u32, 14u32, 46u32, 40u32);
    let plot_w = f64::from(WIDTH - left - 20);
    let plot_h = f64::from(h - top - bottom);
    let mut s = String::new();
    let mut desc = String::new();
    let share = |p: &TrendPoint, i: usize| -> Option<f64> {
        let counts = p.native_counts.get(i)?;
        let total: u64 = counts.iter().sum();
        let off: u64 = READINESS_ORDER
            .iter()
            .zip(counts)
            .filter(|(r, _)| keeps_gil_off(**r))
            .map(|(_, n)| n)
            .sum();
        (total > 0).then(|| 100.0 * off as f64 / total as f64)
    };
    for (i, py) in pythons.iter().enumerate() {
        let values: Vec<String> = points
            .iter()
            .filter_map(|p| share(p, i).map(|v| format!("{} {v:.0}%", day(&p.date))))
            .collect();
        if !values.is_empty() {
            let _ = write!(desc, "{}: {}. ", esc(py), values.join(", "));
        }
    }
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">Share of native projects that keep the GIL off on the main platforms, per crawl run</title><desc id="{id}-d">{desc}</desc>"#
    );
    for pct in [0, 25, 50, 75, 100] {
        let y = f64::from(top) + plot_h * (1.0 - f64::from(pct) / 100.0);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de"/><text x="{}" y="{:.1}" text-anchor="end" class="chart-label">{pct}%</text>"##,
            WIDTH - 20,
            left - 6,
            y + 4.0
        );
    }
    let n = points.len();
    let x_of = |k: usize| {
        if n <= 1 {
            f64::from(left) + plot_w / 2.0
        } else {
            f64::from(left) + plot_w * k as f64 / (n - 1) as f64
        }
    };
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" class="chart-label" text-anchor="start">{}</text>"#,
            x_of(0),
            h - bottom + 18,
            day(&first.date)
        );
        if n > 1 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" class="chart-label" text-anchor="end">{}</text>"#,
                x_of(n - 1),
                h - bottom + 18,
                day(&last.date)
            );
        }
    }
    let mut lx = f64::from(left);
    for (i, py) in pythons.iter().enumerate() {
        let (color, dash) = series_style(i);
        let pts: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .filter_map(|(k, p)| {
                share(p, i).map(|v| (x_of(k), f64::from(top) + plot_h * (1.0 - v / 100.0)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y) in &pts {
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#
            );
        }
        let ly = h - 8;
        let _ = write!(
            s,
            r#"<line x1="{lx:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}"/><text x="{:.1}" y="{}" class="chart-legend">{}</text>"#,
            lx + 24.0,
            ly - 4,
            ly - 4,
            lx + 30.0,
            ly,
            esc(py)
        );
        lx += 90.0;
    }
    s.push_str("</svg>");
    s
}

/// The date part of an RFC 3339 time.
fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}
