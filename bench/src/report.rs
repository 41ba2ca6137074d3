//! The results: one row per measured figure with every run's value for
//! each server, printed as medians with min-max and the ratio
//! pop3d/Dovecot, as Markdown and CSV, plus the two plots the original
//! report drew (download time vs concurrent downloads, and vs buffer size).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use plotters::prelude::*;

use crate::servers::Kind;

pub struct Row {
    pub label: String,
    pub unit: &'static str,
    pub pop3d: Vec<f64>,
    pub dovecot: Vec<f64>,
}

#[derive(Default)]
pub struct Results {
    pub rows: Vec<Row>,
}

impl Results {
    /// Adds one run's value to the row `label`, creating it in order.
    pub fn record(&mut self, label: &str, unit: &'static str, kind: Kind, value: f64) {
        let row = match self.rows.iter_mut().position(|row| row.label == label) {
            Some(index) => &mut self.rows[index],
            None => {
                self.rows.push(Row { label: label.to_owned(), unit, pop3d: Vec::new(), dovecot: Vec::new() });
                self.rows.last_mut().expect("just pushed")
            }
        };
        match kind {
            Kind::Pop3d => row.pop3d.push(value),
            Kind::Dovecot => row.dovecot.push(value),
        }
    }

    pub fn median(&self, label: &str, kind: Kind) -> Option<f64> {
        let row = self.rows.iter().find(|row| row.label == label)?;
        median(match kind {
            Kind::Pop3d => &row.pop3d,
            Kind::Dovecot => &row.dovecot,
        })
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| measurement | unit | pop3d median [min-max] | Dovecot median [min-max] | pop3d/Dovecot |\n|---|---|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let ratio = match (median(&row.pop3d), median(&row.dovecot)) {
                (Some(ours), Some(theirs)) if theirs != 0.0 => format!("{:.2}", ours / theirs),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {ratio} |",
                row.label,
                row.unit,
                summary(&row.pop3d),
                summary(&row.dovecot)
            );
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut out = String::from("measurement,unit,server,run,value\n");
        for row in &self.rows {
            for (server, values) in [("pop3d", &row.pop3d), ("dovecot", &row.dovecot)] {
                for (run, value) in values.iter().enumerate() {
                    let _ = writeln!(out, "\"{}\",{},{server},{},{value}", row.label, row.unit, run + 1);
                }
            }
        }
        out
    }
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 })
}

fn summary(values: &[f64]) -> String {
    let Some(median) = median(values) else {
        return "-".to_owned();
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() == 1 {
        return number(median);
    }
    format!("{} [{}-{}]", number(median), number(min), number(max))
}

/// Three significant digits, without scientific notation.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}

/// Registers a system TrueType font for the plots' text.
pub fn load_font() -> io::Result<()> {
    const CANDIDATES: &[&str] =
        &["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];
    let path = CANDIDATES
        .iter()
        .find(|path| Path::new(path).exists())
        .ok_or_else(|| io::Error::other("no DejaVuSans.ttf for the plots' text (install fonts-dejavu-core)"))?;
    let bytes: &'static [u8] = Box::leak(fs::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| io::Error::other(format!("{path} is not a usable font")))
}

/// One line per server of (x, seconds) points, in the original's style:
/// time on the vertical axis, the varied quantity on the horizontal one.
pub fn plot(path: &Path, title: &str, x_label: &str, series: &[(&str, Vec<(f64, f64)>)]) -> io::Result<()> {
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_max = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.0)).fold(1.0, f64::max);
        let y_max = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.1)).fold(0.001, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max * 1.05, 0.0..y_max)?;
        chart.configure_mesh().x_desc(x_label).y_desc("time (seconds)").label_style(("sans-serif", 15)).draw()?;
        let colors = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];
        for ((name, points), color) in series.iter().zip(colors) {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|&point| Circle::new(point, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|error| io::Error::other(format!("plot {}: {error}", path.display())))
}
