//! PNG charts for the run report, drawn with plotters: line charts (loss
//! per task, validation NDCG@10, edges/s per worker) and the long-tail bar
//! chart. Text needs a TrueType font; the first one found on the machine is
//! used (`TESSERA_FONT` names one explicitly).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Image size in pixels.
const SIZE: (u32, u32) = (960, 540);

/// Font files tried in order after `TESSERA_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers a sans-serif font once; the error says what to install.
fn ensure_font() -> anyhow::Result<()> {
    static FONT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = FONT.get_or_init(|| {
        let candidates = std::env::var_os("TESSERA_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(path);
            }
        }
        Err("no TrueType font found for the plots: install fonts-dejavu-core (Debian/Ubuntu) or set \
             TESSERA_FONT to a .ttf file"
            .to_owned())
    });
    result.as_ref().map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// One named line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("draw {}: {e:?}", path.display())
}

/// A white PNG canvas at `path`, with the font registered.
fn canvas(path: &Path) -> anyhow::Result<DrawingArea<BitMapBackend<'_>, Shift>> {
    ensure_font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    Ok(root)
}

/// Draws the legend and writes the PNG.
fn finish<'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    root: &DrawingArea<BitMapBackend<'a>, Shift>,
    path: &Path,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err(path))?;
    root.present().with_context(|| format!("write {}", path.display()))
}

/// A line chart of `series` (empty series are skipped) written to `path`.
/// With `log_y`, y is drawn on a log10 scale (for rates that differ by
/// orders of magnitude); values ≤ 0 are then left out.
///
/// # Errors
/// Fails when no font is available or the PNG cannot be written.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    let err = plot_err(path);
    let root = canvas(path)?;
    let series: Vec<Series> = if log_y {
        series
            .iter()
            .map(|s| Series {
                label: s.label.clone(),
                points: s.points.iter().filter(|p| p.1 > 0.0).map(|&(x, y)| (x, y.log10())).collect(),
            })
            .collect()
    } else {
        series.to_vec()
    };
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = bounds(all().map(|p| p.0));
    let (y0, y1) = bounds(all().map(|p| p.1));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    let y_format = move |y: &f64| if log_y { format!("{:.0}", 10f64.powf(*y)) } else { format!("{y:.3}") };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(if log_y { format!("{y_label} (log scale)") } else { y_label.to_owned() })
        .y_label_formatter(&y_format)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(&err)?;
    for (k, s) in series.iter().enumerate().filter(|(_, s)| !s.points.is_empty()) {
        let color = Palette99::pick(k).to_rgba();
        let style = ShapeStyle::from(color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(&err)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        if s.points.len() <= 40 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(&err)?;
        }
    }
    finish(&mut chart, &root, path)
}

/// A grouped bar chart: one group per category, one bar per series.
///
/// # Errors
/// Fails when no font is available or the PNG cannot be written.
pub fn grouped_bars(
    path: &Path,
    title: &str,
    categories: &[String],
    y_label: &str,
    series: &[(String, Vec<f64>)],
) -> anyhow::Result<()> {
    let err = plot_err(path);
    let root = canvas(path)?;
    let y1 = series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max).max(1e-9) * 1.1;
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n as f64, 0.0..y1)
        .map_err(&err)?;
    let labels = categories.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&move |x| {
            let k = x.floor() as usize;
            if (x - k as f64 - 0.5).abs() < 0.26 {
                labels.get(k).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(&err)?;
    let width = 0.8 / series.len().max(1) as f64;
    for (j, (label, values)) in series.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        chart
            .draw_series(values.iter().enumerate().map(|(k, &v)| {
                let x = k as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x, 0.0), (x + width * 0.95, v)], color.filled())
            }))
            .map_err(&err)?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    finish(&mut chart, &root, path)
}
