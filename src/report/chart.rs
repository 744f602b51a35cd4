//! Charts as SVG (inlined in the HTML report) and PNG (uploaded by the weekly digest), drawn
//! with plotters from plain data, so one chart looks the same either way.
//!
//! Text is measured and drawn with DejaVu Sans, embedded from `assets/fonts` (open licence
//! beside it): the SVG backend needs a font to lay labels out, the bitmap backend to draw
//! them, and a system font would make both depend on the machine.

use std::sync::Once;

use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

const INK: RGBColor = RGBColor(0x22, 0x2b, 0x36);
const GRID: RGBColor = RGBColor(0xd8, 0xde, 0xe6);
/// Series colours, distinguishable in colour-blind palettes (Okabe–Ito blue, orange, green).
pub const PALETTE: [RGBColor; 3] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
];

#[derive(Debug, thiserror::Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// plotters keeps registered fonts in a process-wide table; registering once is enough.
fn font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are the vendored TrueType file, checked by the tests below.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// One value over time: cost at risk by day, say.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
    /// Formats a value for the y axis ("$12k").
    pub y_format: fn(f64) -> String,
}

/// Horizontal bars, one group per category, one bar per series in each group.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    /// Names of the series, for the legend; one colour each.
    pub series: Vec<String>,
    /// Category label and one value per series.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Formats a value at the end of its bar and on the axis.
    pub value_format: fn(f64) -> String,
}

impl BarChart {
    /// Height that gives every group room for its label and bars.
    pub fn height(&self) -> u32 {
        90 + 22 * u32::try_from(self.groups.len()).unwrap_or(u32::MAX / 64) * (1 + self.bars())
    }

    fn bars(&self) -> u32 {
        u32::try_from(self.series.len().max(1)).unwrap_or(1)
    }
}

pub fn line_svg(chart: &LineChart, size: (u32, u32)) -> Result<String, ChartError> {
    font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_line(&root, chart)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

pub fn line_png(chart: &LineChart, size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    font();
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_line(&root, chart)?;
        root.present().map_err(err)?;
    }
    encode_png(&rgb, size)
}

pub fn bars_svg(chart: &BarChart, width: u32) -> Result<String, ChartError> {
    font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, chart.height())).into_drawing_area();
        draw_bars(&root, chart)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

pub fn bars_png(chart: &BarChart, width: u32) -> Result<Vec<u8>, ChartError> {
    font();
    let size = (width, chart.height());
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_bars(&root, chart)?;
        root.present().map_err(err)?;
    }
    encode_png(&rgb, size)
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChart,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let (Some(first), Some(last)) = (chart.points.first(), chart.points.last()) else {
        return empty(root, &chart.title);
    };
    let t0 = first.0;
    let x_of = |t: DateTime<Utc>| (t - t0).num_seconds() as f64 / 86_400.0;
    let x_max = x_of(last.0).max(1.0);
    let y_max = chart
        .points
        .iter()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, (FAMILY, 18).into_font().color(&INK))
        .margin(14)
        .x_label_area_size(32)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    let date = |x: &f64| {
        (t0 + chrono::Duration::seconds((x * 86_400.0) as i64))
            .format("%d %b")
            .to_string()
    };
    let y_format = chart.y_format;
    c.configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK)
        .label_style((FAMILY, 13).into_font().color(&INK))
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&date)
        .y_label_formatter(&|y| y_format(*y))
        .draw()
        .map_err(err)?;
    let colour = PALETTE[0];
    c.draw_series(AreaSeries::new(
        chart.points.iter().map(|(t, v)| (x_of(*t), *v)),
        0.0,
        colour.mix(0.15),
    ))
    .map_err(err)?;
    c.draw_series(LineSeries::new(
        chart.points.iter().map(|(t, v)| (x_of(*t), *v)),
        colour.stroke_width(2),
    ))
    .map_err(err)?;
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &BarChart,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    if chart.groups.is_empty() {
        return empty(root, &chart.title);
    }
    let bars = f64::from(chart.bars());
    let n = chart.groups.len() as f64;
    let v_max = chart
        .groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.25;
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, (FAMILY, 18).into_font().color(&INK))
        .margin(14)
        .x_label_area_size(28)
        .y_label_area_size(8)
        .build_cartesian_2d(0.0..v_max, 0.0..n)
        .map_err(err)?;
    let value_format = chart.value_format;
    c.configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK)
        .label_style((FAMILY, 13).into_font().color(&INK))
        .x_labels(6)
        .x_label_formatter(&|v| value_format(*v))
        .draw()
        .map_err(err)?;
    // Each group is a band of height 1 from the top: its label, then its bars.
    let slot = 1.0 / (bars + 1.0);
    let label_style = (FAMILY, 13).into_font().color(&INK);
    for (i, (label, values)) in chart.groups.iter().enumerate() {
        let top = n - i as f64;
        c.draw_series(std::iter::once(Text::new(
            label.clone(),
            (0.0, top - 0.05 * slot),
            label_style.clone(),
        )))
        .map_err(err)?;
        for (j, v) in values.iter().enumerate() {
            let y_hi = top - slot * (j as f64 + 1.0) + 0.1 * slot;
            let y_lo = top - slot * (j as f64 + 2.0) + 0.25 * slot;
            let colour = PALETTE[j % PALETTE.len()];
            c.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y_lo), (*v, y_hi)],
                colour.filled(),
            )))
            .map_err(err)?;
            c.draw_series(std::iter::once(Text::new(
                value_format(*v),
                (*v + v_max * 0.01, y_hi),
                (FAMILY, 12).into_font().color(&INK),
            )))
            .map_err(err)?;
        }
    }
    if chart.series.len() > 1 {
        for (j, name) in chart.series.iter().enumerate() {
            c.draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (0.0, 0.0)],
                PALETTE[j % PALETTE.len()].filled(),
            )))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 12, y + 5)],
                    PALETTE[j % PALETTE.len()].filled(),
                )
            });
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font((FAMILY, 13).into_font().color(&INK))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn empty<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let (w, h) = root.dim_in_pixel();
    let style = (FAMILY, 16).into_font().color(&INK);
    root.draw(&Text::new(title.to_string(), (14, 14), style.clone()))
        .map_err(err)?;
    root.draw(&Text::new(
        "no data in this period".to_string(),
        (
            i32::try_from(w / 3).unwrap_or(0),
            i32::try_from(h / 2).unwrap_or(0),
        ),
        style,
    ))
    .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> LineChart {
        let t0: DateTime<Utc> = "2026-10-12T14:00:00Z".parse().unwrap();
        LineChart {
            title: "Cost at risk over 8 weeks".into(),
            points: (0..9)
                .map(|w| (t0 + chrono::Duration::weeks(w), (w * w * 1000) as f64))
                .collect(),
            y_format: |v| format!("${:.0}k", v / 1000.0),
        }
    }

    #[test]
    fn a_line_chart_is_an_svg_with_its_labels() {
        let svg = line_svg(&line(), (720, 320)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("Cost at risk over 8 weeks"));
        assert!(svg.contains("12 Oct"), "dates on the x axis");
        assert!(svg.contains("$60k"), "values on the y axis");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn a_line_chart_is_a_png_of_its_size_with_ink_on_it() {
        let png_bytes = line_png(&line(), (720, 320)).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (720, 320));
        let pixels = &buf[..info.buffer_size()];
        let dark = pixels
            .chunks(3)
            .filter(|p| p.iter().all(|c| *c < 100))
            .count();
        // Text and axes: with no font the labels would be missing and this would be tiny.
        assert!(dark > 1500, "{dark} dark pixels");
    }

    #[test]
    fn bars_have_a_label_per_group_and_a_legend() {
        let chart = BarChart {
            title: "Time to decision".into(),
            series: vec!["median".into(), "p90".into()],
            groups: vec![
                ("Commercial approval".into(), vec![3.0, 9.5]),
                ("Technical review".into(), vec![1.0, 2.0]),
            ],
            value_format: |v| format!("{v:.1} h"),
        };
        let svg = bars_svg(&chart, 720).unwrap();
        for text in [
            "Commercial approval",
            "Technical review",
            "median",
            "p90",
            "9.5 h",
        ] {
            assert!(svg.contains(text), "{text}");
        }
        let png_bytes = bars_png(&chart, 720).unwrap();
        assert_eq!(&png_bytes[1..4], b"PNG");
    }

    #[test]
    fn an_empty_chart_says_so() {
        let mut chart = line();
        chart.points.clear();
        assert!(line_svg(&chart, (400, 200))
            .unwrap()
            .contains("no data in this period"));
    }
}
