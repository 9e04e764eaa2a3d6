//! SVG plots (bar charts with CI whiskers, curves with CI bands) and their
//! PNG rasterisation with an embedded font, so a PNG reads the same on a
//! machine without any system font.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

/// DejaVu Sans, subset to Latin-1 and common punctuation (license in
/// `fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("fonts/DejaVuSans-subset.ttf");
const FONT_FAMILY: &str = "DejaVu Sans";
/// Okabe-Ito, readable by colour-blind readers.
const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];
const FONT_SIZE: f64 = 12.0;

/// One bar: a mean, its interval and the per-seed values shown as dots.
#[derive(Clone, Debug, PartialEq)]
pub struct BarValue {
    pub mean: f64,
    pub ci: Option<(f64, f64)>,
    pub points: Vec<f64>,
}

/// One series of bars (one colour, e.g. one model), a value per group.
#[derive(Clone, Debug, PartialEq)]
pub struct BarSeries {
    pub label: String,
    pub values: Vec<Option<BarValue>>,
}

/// Grouped bars: groups along x (e.g. metrics), one bar per series.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub series: Vec<BarSeries>,
}

/// One line of a curve plot: (x, y, optional interval).
/// (x, y, optional interval of y).
pub type LinePoint = (f64, f64, Option<(f64, f64)>);

#[derive(Clone, Debug, PartialEq)]
pub struct LineSeries {
    pub label: String,
    pub points: Vec<LinePoint>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<LineSeries>,
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Rough text width in px (DejaVu Sans averages ~0.6 em per character).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// Shorten a label to about `max_px` wide.
fn fit(s: &str, size: f64, max_px: f64) -> String {
    if text_width(s, size) <= max_px {
        return s.to_string();
    }
    let keep = ((max_px / (size * 0.6)) as usize).saturating_sub(1).max(1);
    let mut t: String = s.chars().take(keep).collect();
    t.push('…');
    t
}

/// Tick values covering [lo, hi] with a 1/2/5 step.
fn ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let span = (hi - lo).max(1e-9);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut t = Vec::new();
    let mut v = start;
    while v <= end + step * 1e-6 {
        t.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    (start, end, t)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize + 1
    };
    let s = format!("{v:.decimals$}");
    // 0.50 -> 0.5
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub(crate) fn value_label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Frame {
    width: f64,
    height: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    lo: f64,
    hi: f64,
}

impl Frame {
    fn y(&self, v: f64) -> f64 {
        self.y1 - (v - self.lo) / (self.hi - self.lo) * (self.y1 - self.y0)
    }
}

fn header(out: &mut String, width: f64, height: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT_FAMILY}, DejaVu Sans, Arial, sans-serif" font-size="{FONT_SIZE}">"#
    );
    let _ = write!(
        out,
        r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/><text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold" fill="#222222">{}</text>"##,
        width / 2.0,
        escape(&fit(title, 15.0, width - 20.0))
    );
}

/// Y axis with grid lines, tick labels and the rotated axis label.
fn y_axis(out: &mut String, f: &Frame, ticks: &[f64], label: &str) {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for &t in ticks {
        let y = f.y(t);
        let _ = write!(
            out,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444444">{}</text>"##,
            f.x0,
            f.x1,
            if t == 0.0 { "#888888" } else { "#e5e5e5" },
            f.x0 - 6.0,
            y + 4.0,
            tick_label(t, step)
        );
    }
    let cy = (f.y0 + f.y1) / 2.0;
    let _ = write!(
        out,
        r##"<text x="16" y="{cy:.1}" text-anchor="middle" transform="rotate(-90 16 {cy:.1})" fill="#222222">{}</text>"##,
        escape(&fit(label, FONT_SIZE, f.y1 - f.y0))
    );
}

fn legend(out: &mut String, x: f64, y: f64, labels: &[String], max_px: f64) {
    for (i, label) in labels.iter().enumerate() {
        let yy = y + i as f64 * 18.0;
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" fill="#222222">{}</text>"##,
            yy - 10.0,
            PALETTE[i % PALETTE.len()],
            x + 18.0,
            yy,
            escape(&fit(label, FONT_SIZE, max_px))
        );
    }
}

fn legend_width(labels: &[String]) -> f64 {
    labels
        .iter()
        .map(|l| text_width(l, FONT_SIZE))
        .fold(0.0, f64::max)
        .min(220.0)
        + 30.0
}

/// Range of the data including zero (bars start at zero). Shares (every
/// mean and dot in [0, 1]) get the axis [0, 1], their intervals clipped
/// to it; other data get an axis that holds the intervals too.
fn bar_range(chart: &BarChart) -> (f64, f64) {
    let values = |with_ci: bool| {
        let mut xs = Vec::new();
        for v in chart.series.iter().flat_map(|s| s.values.iter().flatten()) {
            xs.push(v.mean);
            xs.extend(&v.points);
            if let (true, Some((a, b))) = (with_ci, v.ci) {
                xs.extend([a, b]);
            }
        }
        xs.into_iter()
            .filter(|x| x.is_finite())
            .collect::<Vec<f64>>()
    };
    let (lo, hi) = min_max(&values(false)).unwrap_or((0.0, 1.0));
    if lo >= 0.0 && hi <= 1.0 {
        return (0.0, 1.0);
    }
    let (lo, hi) = min_max(&values(true)).unwrap_or((lo, hi));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi == lo {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    }
}

/// A grouped bar chart with CI whiskers and per-seed dots.
pub fn bar_svg(chart: &BarChart) -> String {
    let labels: Vec<String> = chart.series.iter().map(|s| s.label.clone()).collect();
    let lw = legend_width(&labels);
    let k = chart.series.len().max(1) as f64;
    let groups = chart.groups.len().max(1) as f64;
    let plot_w = (groups * (k * 34.0 + 40.0)).max(360.0);
    let width = (70.0 + plot_w + lw + 20.0).round();
    let height = 420.0f64.max(80.0 + labels.len() as f64 * 18.0);
    let (lo, hi) = bar_range(chart);
    let (lo, hi, tk) = ticks(lo, hi);
    let f = Frame {
        width,
        height,
        x0: 70.0,
        x1: 70.0 + plot_w,
        y0: 58.0,
        y1: height - 50.0,
        lo,
        hi,
    };
    let mut out = String::new();
    header(&mut out, f.width, f.height, &chart.title);
    y_axis(&mut out, &f, &tk, &chart.y_label);
    let gw = (f.x1 - f.x0) / groups;
    let bw = (gw * 0.8 / k).min(48.0);
    let zero = f.y(0.0f64.clamp(lo, hi));
    for (g, group) in chart.groups.iter().enumerate() {
        let gx = f.x0 + gw * (g as f64 + 0.5);
        let _ = write!(
            out,
            r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#222222">{}</text>"##,
            f.y1 + 20.0,
            escape(&fit(group, FONT_SIZE, gw - 4.0))
        );
        for (i, s) in chart.series.iter().enumerate() {
            let Some(Some(v)) = s.values.get(g) else {
                continue;
            };
            if !v.mean.is_finite() {
                continue;
            }
            let cx = gx + (i as f64 - (k - 1.0) / 2.0) * bw;
            let (top, bottom) = if f.y(v.mean) < zero {
                (f.y(v.mean), zero)
            } else {
                (zero, f.y(v.mean))
            };
            let colour = PALETTE[i % PALETTE.len()];
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.85"><title>{}: {}</title></rect>"#,
                cx - bw * 0.45,
                bw * 0.9,
                (bottom - top).max(0.5),
                escape(&s.label),
                value_label(v.mean)
            );
            let mut label_y = f.y(v.mean.max(0.0)) - 4.0;
            if let Some((a, b)) = v.ci {
                let (ya, yb) = (f.y(a.clamp(lo, hi)), f.y(b.clamp(lo, hi)));
                let cap = (bw * 0.25).min(6.0);
                let _ = write!(
                    out,
                    r##"<path d="M{cx:.1} {ya:.1}V{yb:.1}M{:.1} {ya:.1}H{:.1}M{:.1} {yb:.1}H{:.1}" stroke="#222222" stroke-width="1.3" fill="none"/>"##,
                    cx - cap,
                    cx + cap,
                    cx - cap,
                    cx + cap
                );
                label_y = label_y.min(yb - 4.0);
            }
            let np = v.points.len();
            for (j, p) in v.points.iter().enumerate().filter(|(_, p)| p.is_finite()) {
                let dx = if np > 1 {
                    (j as f64 / (np - 1) as f64 - 0.5) * bw * 0.5
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="2.6" fill="#ffffff" stroke="#222222" stroke-width="1"/>"##,
                    cx + dx,
                    f.y(*p)
                );
            }
            if bw >= 22.0 {
                let _ = write!(
                    out,
                    r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#222222">{}</text>"##,
                    label_y.max(f.y0 - 2.0),
                    value_label(v.mean)
                );
            }
        }
    }
    let _ = write!(
        out,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444444"/>"##,
        f.x0, f.y0, f.x0, f.y1
    );
    legend(&mut out, f.x1 + 20.0, f.y0 + 10.0, &labels, lw - 30.0);
    out.push_str("</svg>\n");
    out
}

/// A curve plot: one line per series with its interval as a band.
pub fn line_svg(chart: &LineChart) -> String {
    let labels: Vec<String> = chart.series.iter().map(|s| s.label.clone()).collect();
    let lw = legend_width(&labels);
    let plot_w = 480.0;
    let width = (70.0 + plot_w + lw + 20.0).round();
    let height = 400.0f64.max(80.0 + labels.len() as f64 * 18.0);
    let finite = |v: f64| v.is_finite();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &chart.series {
        for (x, y, ci) in &s.points {
            if finite(*x) && finite(*y) {
                xs.push(*x);
                ys.push(*y);
                if let Some((a, b)) = ci {
                    ys.extend([*a, *b].into_iter().filter(|v| v.is_finite()));
                }
            }
        }
    }
    let (xlo, xhi) = min_max(&xs).unwrap_or((0.0, 1.0));
    let (ylo, yhi) = min_max(&ys).unwrap_or((0.0, 1.0));
    let pad = ((yhi - ylo) * 0.05).max(1e-6);
    let (lo, hi, tk) = ticks(ylo - pad, yhi + pad);
    let (xlo, xhi, xtk) = ticks(xlo, if xhi > xlo { xhi } else { xlo + 1.0 });
    let f = Frame {
        width,
        height,
        x0: 70.0,
        x1: 70.0 + plot_w,
        y0: 46.0,
        y1: height - 56.0,
        lo,
        hi,
    };
    let xmap = |x: f64| f.x0 + (x - xlo) / (xhi - xlo) * (f.x1 - f.x0);
    let mut out = String::new();
    header(&mut out, f.width, f.height, &chart.title);
    y_axis(&mut out, &f, &tk, &chart.y_label);
    let xstep = if xtk.len() > 1 { xtk[1] - xtk[0] } else { 1.0 };
    for &t in &xtk {
        let x = xmap(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444444"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444444">{}</text>"##,
            f.y1,
            f.y1 + 5.0,
            f.y1 + 19.0,
            tick_label(t, xstep)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#222222">{}</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444444"/>"##,
        (f.x0 + f.x1) / 2.0,
        f.y1 + 40.0,
        escape(&chart.x_label),
        f.x0,
        f.y1,
        f.x1,
        f.y1
    );
    for (i, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<LinePoint> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y, _)| x.is_finite() && y.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let band: Vec<(f64, f64, f64)> = pts
            .iter()
            .filter_map(|(x, _, ci)| ci.map(|(a, b)| (*x, a, b)))
            .filter(|(_, a, b)| a.is_finite() && b.is_finite())
            .collect();
        if band.len() >= 2 {
            let mut d = String::new();
            for (j, (x, _, b)) in band.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if j == 0 { "M" } else { "L" },
                    xmap(*x),
                    f.y(*b)
                );
            }
            for (x, a, _) in band.iter().rev() {
                let _ = write!(d, "L{:.1} {:.1}", xmap(*x), f.y(*a));
            }
            let _ = write!(
                out,
                r#"<path d="{d}Z" fill="{colour}" fill-opacity="0.18" stroke="none"/>"#
            );
        }
        let mut d = String::new();
        for (j, (x, y, _)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if j == 0 { "M" } else { "L" },
                xmap(*x),
                f.y(*y)
            );
        }
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        for (x, y, ci) in &pts {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {}{}</title></circle>"#,
                xmap(*x),
                f.y(*y),
                escape(&s.label),
                value_label(*y),
                ci.map(|(a, b)| format!(" [{}, {}]", value_label(a), value_label(b)))
                    .unwrap_or_default()
            );
        }
    }
    legend(&mut out, f.x1 + 20.0, f.y0 + 10.0, &labels, lw - 30.0);
    out.push_str("</svg>\n");
    out
}

fn min_max(xs: &[f64]) -> Option<(f64, f64)> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}

fn fontdb() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Rasterise an SVG at `scale` (2.0 for sharp text) with the embedded font.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    let opt = usvg::Options {
        fontdb: fontdb(),
        font_family: FONT_FAMILY.to_string(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let (w, h) = (
        (size.width() as f32 * scale).ceil() as u32,
        (size.height() as f32 * scale).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or("empty image")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> BarChart {
        BarChart {
            title: "ood: no system prompt".into(),
            y_label: "share of responses".into(),
            groups: vec!["spanish".into(), "all_caps".into()],
            series: vec![
                BarSeries {
                    label: "base".into(),
                    values: vec![
                        Some(BarValue {
                            mean: 0.03,
                            ci: None,
                            points: vec![],
                        }),
                        Some(BarValue {
                            mean: 0.0,
                            ci: None,
                            points: vec![],
                        }),
                    ],
                },
                BarSeries {
                    label: "inoculated <spanish>".into(),
                    values: vec![
                        Some(BarValue {
                            mean: 0.26,
                            ci: Some((0.2, 0.32)),
                            points: vec![0.25, 0.26, 0.27],
                        }),
                        None,
                    ],
                },
            ],
        }
    }

    #[test]
    fn ticks_are_round() {
        let (lo, hi, t) = ticks(0.0, 1.0);
        assert_eq!((lo, hi), (0.0, 1.0));
        assert_eq!(t.len(), 6);
        let (lo, hi, t) = ticks(-2.13, -0.4);
        assert!(lo <= -2.13 && hi >= -0.4 && t.len() <= 8, "{t:?}");
        assert_eq!(tick_label(0.2, 0.2), "0.2");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
    }

    #[test]
    fn bar_svg_escapes_and_draws_every_bar() {
        let svg = bar_svg(&chart());
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("inoculated &lt;spanish&gt;"));
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 3 + 2,
            "background + 3 bars + 2 legend"
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(roxmltree_parses(&svg));
    }

    #[test]
    fn png_renders_text_without_system_fonts() {
        let svg = bar_svg(&chart());
        let png = svg_to_png(&svg, 1.0).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // The same chart without any text element must differ: text drew pixels.
        let no_text: String = strip_text(&svg);
        let png2 = svg_to_png(&no_text, 1.0).unwrap();
        assert_ne!(png, png2);
        let dark = |png: &[u8]| {
            let pix = tiny_skia::Pixmap::decode_png(png).unwrap();
            pix.pixels()
                .iter()
                .filter(|p| p.red() < 80 && p.green() < 80 && p.blue() < 80)
                .count()
        };
        assert!(
            dark(&png) > dark(&png2) + 200,
            "{} vs {}",
            dark(&png),
            dark(&png2)
        );
    }

    #[test]
    fn line_svg_has_bands_and_points() {
        let svg = line_svg(&LineChart {
            title: "probe log-prob".into(),
            x_label: "step".into(),
            y_label: "log-prob per char".into(),
            series: vec![LineSeries {
                label: "caps probe".into(),
                points: vec![
                    (0.0, -2.0, Some((-2.2, -1.8))),
                    (50.0, -1.2, Some((-1.4, -1.0))),
                    (100.0, -0.6, None),
                ],
            }],
        });
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("fill-opacity=\"0.18\""));
        assert!(roxmltree_parses(&svg));
        svg_to_png(&svg, 1.0).unwrap();
    }

    fn strip_text(svg: &str) -> String {
        let mut out = String::new();
        let mut rest = svg;
        while let Some(i) = rest.find("<text") {
            out.push_str(&rest[..i]);
            let j = rest[i..].find("</text>").unwrap() + i + "</text>".len();
            rest = &rest[j..];
        }
        out.push_str(rest);
        out
    }

    fn roxmltree_parses(svg: &str) -> bool {
        usvg::roxmltree::Document::parse(svg).is_ok()
    }
}
