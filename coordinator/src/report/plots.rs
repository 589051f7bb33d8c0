//! PNG charts for the run report, drawn with plotters: line charts
//! (validation NDCG@10, edges/s per worker), small multiples (loss per task,
//! one panel per model) and the long-tail bar chart. Every legend sits in a
//! column of its own beside the data, so it never covers a line or a bar.
//! Text needs a TrueType font; the first one found on the machine is used
//! (`TESSERA_FONT` names one explicitly).

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

/// How a legend entry is marked.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    /// A short line (line charts).
    Line,
    /// A filled box (bar charts).
    Bar,
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Splits the canvas under its title into the plot area and a legend column
/// wide enough for the longest label.
fn plot_and_legend<'a>(
    root: &Area<'a>,
    title: &str,
    labels: &[&str],
    path: &Path,
) -> anyhow::Result<(Area<'a>, Area<'a>)> {
    let body = root.titled(title, ("sans-serif", 24)).map_err(plot_err(path))?;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let width = (44 + 8 * longest).clamp(110, SIZE.0 / 2);
    let (w, _) = body.dim_in_pixel();
    Ok(body.split_horizontally(w.saturating_sub(width)))
}

/// Draws `entries` (label and colour) top-down in `area`.
fn draw_legend(
    area: &Area<'_>,
    entries: &[(String, RGBAColor)],
    swatch: Swatch,
    path: &Path,
) -> anyhow::Result<()> {
    let err = plot_err(path);
    for (k, (label, color)) in entries.iter().enumerate() {
        let y = 40 + 22 * k as i32;
        match swatch {
            Swatch::Line => area
                .draw(&PathElement::new(vec![(6, y), (28, y)], ShapeStyle::from(*color).stroke_width(3)))
                .map_err(&err)?,
            Swatch::Bar => {
                area.draw(&Rectangle::new([(8, y - 6), (24, y + 6)], color.filled())).map_err(&err)?
            }
        }
        area.draw(&Text::new(label.clone(), (34, y - 8), ("sans-serif", 14))).map_err(&err)?;
    }
    Ok(())
}

/// Colour of the `k`-th distinct label.
fn color(k: usize) -> RGBAColor {
    Palette99::pick(k).to_rgba()
}

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `series` on `chart`, each in the colour `color_of` gives its label;
/// points are marked when there are few.
fn draw_lines(
    chart: &mut Chart<'_>,
    series: &[Series],
    color_of: &dyn Fn(&str) -> RGBAColor,
    path: &Path,
) -> anyhow::Result<()> {
    let err = plot_err(path);
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let color = color_of(&s.label);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), ShapeStyle::from(color).stroke_width(2)))
            .map_err(&err)?;
        if s.points.len() <= 40 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(&err)?;
        }
    }
    Ok(())
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
    let series: Vec<Series> = series.into_iter().filter(|s| !s.points.is_empty()).collect();
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    let (plot_area, legend) = plot_and_legend(&root, title, &labels, path)?;
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = bounds(all().map(|p| p.0));
    let (y0, y1) = bounds(all().map(|p| p.1));
    let mut chart = ChartBuilder::on(&plot_area)
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
    let color_of = |label: &str| color(labels.iter().position(|l| *l == label).unwrap_or(0));
    draw_lines(&mut chart, &series, &color_of, path)?;
    let entries: Vec<(String, RGBAColor)> =
        labels.iter().enumerate().map(|(k, l)| ((*l).to_owned(), color(k))).collect();
    draw_legend(&legend, &entries, Swatch::Line, path)?;
    root.present().with_context(|| format!("write {}", path.display()))
}

/// One panel of a small-multiples chart.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// Its lines.
    pub series: Vec<Series>,
    /// The x axis, when it should not just span the points.
    pub x_range: Option<(f64, f64)>,
}

/// Small multiples: one line chart per panel, in a grid (up to three
/// across), each with its own axes; a label has the same colour in every
/// panel, and one legend beside the grid names them.
///
/// # Errors
/// Fails when no font is available or the PNG cannot be written.
pub fn panel_lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    panels: &[Panel],
) -> anyhow::Result<()> {
    let err = plot_err(path);
    let root = canvas(path)?;
    let mut labels: Vec<&str> = Vec::new();
    for s in panels.iter().flat_map(|p| &p.series) {
        if !labels.contains(&s.label.as_str()) {
            labels.push(&s.label);
        }
    }
    let (grid, legend) = plot_and_legend(&root, title, &labels, path)?;
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let color_of = |label: &str| color(labels.iter().position(|l| *l == label).unwrap_or(0));
    for (panel, area) in panels.iter().zip(grid.split_evenly((rows, cols))) {
        let all = || panel.series.iter().flat_map(|s| s.points.iter());
        let (x0, x1) = panel.x_range.unwrap_or_else(|| bounds(all().map(|p| p.0)));
        let (y0, y1) = bounds(all().map(|p| p.1));
        let mut chart = ChartBuilder::on(&area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(&err)?;
        draw_lines(&mut chart, &panel.series, &color_of, path)?;
    }
    let entries: Vec<(String, RGBAColor)> =
        labels.iter().enumerate().map(|(k, l)| ((*l).to_owned(), color(k))).collect();
    draw_legend(&legend, &entries, Swatch::Line, path)?;
    root.present().with_context(|| format!("write {}", path.display()))
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
    let labels: Vec<&str> = series.iter().map(|s| s.0.as_str()).collect();
    let (plot_area, legend) = plot_and_legend(&root, title, &labels, path)?;
    let y1 = series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max).max(1e-9) * 1.1;
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n as f64, 0.0..y1)
        .map_err(&err)?;
    let names = categories.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&move |x| {
            let k = x.floor() as usize;
            if (x - k as f64 - 0.5).abs() < 0.26 {
                names.get(k).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(&err)?;
    let width = 0.8 / series.len().max(1) as f64;
    for (j, (_, values)) in series.iter().enumerate() {
        let c = color(j);
        chart
            .draw_series(values.iter().enumerate().map(|(k, &v)| {
                let x = k as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x, 0.0), (x + width * 0.95, v)], c.filled())
            }))
            .map_err(&err)?;
    }
    let entries: Vec<(String, RGBAColor)> =
        labels.iter().enumerate().map(|(k, l)| ((*l).to_owned(), color(k))).collect();
    draw_legend(&legend, &entries, Swatch::Bar, path)?;
    root.present().with_context(|| format!("write {}", path.display()))
}
