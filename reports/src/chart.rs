//! Charts drawn with plotters: lines with confidence bands, horizontal bars with error bars,
//! and scatter plots with marked points. Each chart renders to SVG (inline in the HTML reports)
//! and PNG (text through ab_glyph and the bundled font, so it looks the same on any machine),
//! and carries the values it plots as JSON, for readers and tests. Rendering is a pure function
//! of the chart: the same chart gives the same bytes.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

/// The bundled font (see `reports/fonts/README.md`).
pub const FONT_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");
/// The family name charts write; the HTML maps it to the embedded font.
const FAMILY: &str = "sans-serif";
/// Chart width [px].
const WIDTH: u32 = 760;

/// One line, optionally with a band (a confidence interval or a percentile range) around it.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub name: String,
    /// (x, y)
    pub points: Vec<(f64, f64)>,
    /// (x, low, high)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub band: Vec<(f64, f64, f64)>,
    /// Drawn dashed (a reference such as a budget line).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dashed: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line { name: name.into(), points, band: Vec::new(), dashed: false }
    }
}

/// One bar: a value with an optional 95% half-width.
#[derive(Clone, Debug, Serialize)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_width: Option<f64>,
}

/// One point of a scatter plot; marked points are drawn filled (e.g. the Pareto frontier).
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub marked: bool,
}

/// What a chart draws.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Plot {
    Lines { lines: Vec<Line> },
    Bars { bars: Vec<Bar> },
    Scatter { points: Vec<Point> },
}

/// A vertical reference line at x (e.g. a turnaround target).
#[derive(Clone, Debug, Serialize)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// A chart: titles, axes, what it plots.
#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    /// File name and HTML id: letters, digits and '-'.
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub plot: Plot,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<Marker>,
}

/// A chart drawn.
pub struct Rendered {
    pub svg: String,
    pub png: Vec<u8>,
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font parses; if it ever did not, text would be missing, not the chart.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_TTF);
    });
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

impl Chart {
    /// [px] the chart's height: bars get a row each.
    fn height(&self) -> u32 {
        match &self.plot {
            Plot::Bars { bars } => 90 + 26 * bars.len().max(1) as u32,
            _ => 420,
        }
    }

    /// Draws the chart as SVG and PNG.
    pub fn render(&self) -> Result<Rendered, String> {
        register_font();
        let (w, h) = (WIDTH, self.height());
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| format!("chart {}: {e}", self.id))?;
        }
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| format!("chart {}: {e}", self.id))?;
        }
        let mut png = Vec::new();
        use image::ImageEncoder as _;
        image::codecs::png::PngEncoder::new(&mut png).write_image(&rgb, w, h, image::ColorType::Rgb8).map_err(|e| format!("chart {}: {e}", self.id))?;
        Ok(Rendered { svg: scalable(&svg), png })
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("chart {}: {e:?}", self.id);
        root.fill(&WHITE).map_err(err)?;
        match &self.plot {
            Plot::Lines { lines } => self.draw_lines(root, lines).map_err(err),
            Plot::Bars { bars } => self.draw_bars(root, bars).map_err(err),
            Plot::Scatter { points } => self.draw_scatter(root, points).map_err(err),
        }
    }

    /// A numeric x-y chart with its title, axes, labels and light grid drawn.
    fn xy_axes<'a, DB: DrawingBackend>(&self, root: &'a DrawingArea<DB, Shift>, x: (f64, f64), y: (f64, f64)) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, DrawingAreaErrorKind<DB::ErrorType>> {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        Ok(chart)
    }

    fn draw_lines<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, lines: &[Line]) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0).chain(l.band.iter().map(|b| b.0))).chain(self.marker.iter().map(|m| m.x));
        let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1).chain(l.band.iter().flat_map(|b| [b.1, b.2])));
        let (x0, x1) = range(xs, false);
        let (y0, y1) = range(ys, true);
        let mut chart = self.xy_axes(root, (x0, x1), (y0, y1))?;
        for (i, l) in lines.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let band: Vec<(f64, f64, f64)> = l.band.iter().copied().filter(|b| b.0.is_finite() && b.1.is_finite() && b.2.is_finite()).collect();
            let points: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            if !band.is_empty() {
                let mut poly: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
                poly.extend(band.iter().rev().map(|b| (b.0, b.1)));
                chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))?;
            }
            let style = ShapeStyle { color: c.to_rgba(), filled: false, stroke_width: 2 };
            let anno = if l.dashed {
                chart.draw_series(DashedLineSeries::new(points, 8, 5, style))?
            } else {
                chart.draw_series(LineSeries::new(points, style))?
            };
            anno.label(l.name.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle { color: c.to_rgba(), filled: false, stroke_width: 2 }));
        }
        if let Some(m) = &self.marker {
            chart
                .draw_series(DashedLineSeries::new([(m.x, y0), (m.x, y1)], 4, 4, ShapeStyle { color: BLACK.mix(0.6), filled: false, stroke_width: 1 }))?
                .label(m.label.as_str())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.6)));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).label_font((FAMILY, 12)).background_style(WHITE.mix(0.85)).border_style(RGBColor(200, 200, 200)).draw()?;
        Ok(())
    }

    fn draw_bars<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, bars: &[Bar]) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let n = bars.len().max(1) as u32;
        let lows = bars.iter().map(|b| b.value - b.half_width.unwrap_or(0.0));
        let highs = bars.iter().map(|b| b.value + b.half_width.unwrap_or(0.0));
        let (x0, x1) = range(lows.chain(highs).chain([0.0]), false);
        let label_px = bars.iter().map(|b| b.label.chars().count().min(34)).max().unwrap_or(4) as u32 * 7 + 16;
        let labels: Vec<String> = bars.iter().map(|b| clip(&b.label, 34)).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(label_px.clamp(60, 260))
            .build_cartesian_2d(x0..x1, (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(&self.x_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .x_label_formatter(&|v| tick(*v))
            .y_labels(n as usize)
            .y_label_formatter(&|v| match v {
                // The first bar on top.
                SegmentValue::CenterOf(i) if *i < n => labels.get((n - 1 - *i) as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let c = PALETTE[0];
        chart.draw_series(bars.iter().enumerate().filter(|(_, b)| b.value.is_finite()).map(|(i, b)| {
            let i = n - 1 - i as u32;
            let mut r = Rectangle::new([(0.0, SegmentValue::Exact(i)), (b.value, SegmentValue::Exact(i + 1))], c.mix(0.75).filled());
            r.set_margin(4, 4, 0, 0);
            r
        }))?;
        // Error bars: a line across the 95% interval at the bar's centre, with end ticks.
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let hw = b.half_width.filter(|h| h.is_finite() && *h > 0.0)?;
            let i = n - 1 - i as u32;
            Some(PathElement::new(vec![(b.value - hw, SegmentValue::CenterOf(i)), (b.value + hw, SegmentValue::CenterOf(i))], ShapeStyle { color: BLACK.to_rgba(), filled: false, stroke_width: 2 }))
        }))?;
        Ok(())
    }

    fn draw_scatter<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, points: &[Point]) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (x0, x1) = range(points.iter().map(|p| p.x), false);
        let (y0, y1) = range(points.iter().map(|p| p.y), false);
        let mut chart = self.xy_axes(root, (x0, x1), (y0, y1))?;
        let (c, m) = (PALETTE[0], PALETTE[1]);
        chart
            .draw_series(points.iter().filter(|p| !p.marked && p.x.is_finite() && p.y.is_finite()).map(|p| Circle::new((p.x, p.y), 4, c.stroke_width(2))))?
            .label("dominated")
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.stroke_width(2)));
        chart
            .draw_series(points.iter().filter(|p| p.marked && p.x.is_finite() && p.y.is_finite()).map(|p| Circle::new((p.x, p.y), 6, m.filled())))?
            .label("non-dominated")
            .legend(move |(x, y)| Circle::new((x + 9, y), 6, m.filled()));
        chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).label_font((FAMILY, 12)).background_style(WHITE.mix(0.85)).border_style(RGBColor(200, 200, 200)).draw()?;
        Ok(())
    }
}

/// The axis range of some values, padded by 5%; `from_zero` keeps 0 in it when all are positive.
fn range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-12 {
        let pad = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    if lo != 0.0 {
        lo -= pad;
    }
    hi += pad;
    (lo, hi)
}

/// A tick label: short, without trailing zeros.
fn tick(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') && !s.ends_with(['M', 'k']) {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Makes plotters' fixed-size SVG scale with its container (the viewBox keeps the drawing's
/// proportions; CSS sets the width).
fn scalable(svg: &str) -> String {
    if svg.contains("viewBox") {
        return svg.to_string();
    }
    let Some(end) = svg.find('>') else { return svg.to_string() };
    let head = &svg[..end];
    let num = |key: &str| -> Option<String> {
        let i = head.find(&format!("{key}=\""))? + key.len() + 2;
        Some(head[i..].split('"').next()?.to_string())
    };
    match (num("width"), num("height")) {
        (Some(w), Some(h)) => format!("{head} viewBox=\"0 0 {w} {h}\"{}", &svg[end..]),
        _ => svg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Chart> {
        vec![
            Chart {
                id: "lines".into(),
                title: "Queue ± band".into(),
                x_label: "time [h]".into(),
                y_label: "tasks".into(),
                plot: Plot::Lines { lines: vec![Line { name: "queue".into(), points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)], band: vec![(0.0, 0.5, 1.5), (1.0, 2.0, 4.0), (2.0, 1.0, 3.0)], dashed: false }] },
                marker: Some(Marker { x: 1.5, label: "target".into() }),
            },
            Chart { id: "bars".into(), title: "Utilisation".into(), x_label: "share".into(), y_label: String::new(), plot: Plot::Bars { bars: vec![Bar { label: "crowd".into(), value: 0.8, half_width: Some(0.05) }, Bar { label: "experts".into(), value: -0.2, half_width: None }] }, marker: None },
            Chart { id: "scatter".into(), title: "Pareto".into(), x_label: "USD".into(), y_label: "accuracy".into(), plot: Plot::Scatter { points: vec![Point { label: "a".into(), x: 1.0, y: 0.9, marked: true }, Point { label: "b".into(), x: 2.0, y: 0.8, marked: false }] }, marker: None },
        ]
    }

    #[test]
    fn every_kind_renders_the_same_bytes_twice() {
        for c in sample() {
            let a = c.render().unwrap();
            let b = c.render().unwrap();
            assert_eq!(a.svg, b.svg);
            assert_eq!(a.png, b.png);
            assert!(a.png.starts_with(b"\x89PNG"), "{}", c.id);
            assert!(a.svg.starts_with("<svg") && a.svg.contains("viewBox"), "{}", &a.svg[..80]);
            assert!(a.svg.contains("<text") && a.svg.contains(&c.title.replace('±', "±")), "{}: title drawn", c.id);
        }
    }

    #[test]
    fn degenerate_data_still_draws() {
        let empty = Chart { id: "e".into(), title: "Nothing".into(), x_label: "x".into(), y_label: "y".into(), plot: Plot::Lines { lines: vec![Line::new("none", vec![])] }, marker: None };
        assert!(empty.render().is_ok());
        let flat = Chart { id: "f".into(), title: "Flat".into(), x_label: "x".into(), y_label: "y".into(), plot: Plot::Lines { lines: vec![Line::new("one", vec![(1.0, 5.0), (1.0, f64::NAN)])] }, marker: None };
        assert!(flat.render().is_ok());
    }

    #[test]
    fn ticks_read_well() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(150.0), "150");
        assert_eq!(tick(25_000.0), "25k");
        assert_eq!(tick(1_500_000.0), "1.5M");
    }
}
