//! The RPS chart: a bar per server in a group per fixed-load cell, each with its Little's
//! bound, over a panel of CPU seconds per 1,000 requests.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{chart_err, server_color};
use crate::validity::cell_bound;
use crate::{Cell, Cells, ENDPOINTS, MODES, ReportError, RunMeta, chart_label};
use loadgen::figures::cpu_per_1k;
use loadgen::result::RunResult;

/// The colour of the Little's bound markers: dark, apart from every server's colour.
const BOUND_COLOR: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// Font size of a bar's value label, px.
const VALUE_FONT: u32 = 11;

/// One panel of bars: a group per cell (table), a bar per server.
struct Panel<'a> {
    /// The panel's title.
    caption: String,
    /// The y axis's description.
    y_desc: &'a str,
    /// The bar of a server in a group (`{mode}-{endpoint}`), if it has one.
    value: &'a dyn Fn(&str, &str) -> Option<f64>,
    /// A line across the bar's slot (the cell's Little's bound), where the panel has one.
    marker: &'a dyn Fn(&str, &str) -> Option<f64>,
    /// A bar's value label.
    label: fn(f64) -> String,
    /// A y axis label.
    axis: fn(&f64) -> String,
}

/// Draws one panel of bars in `area`. A server without a bar in a group gets the word
/// `absent` gives (e.g. "n/a", "invalid") at the bottom of its slot.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    servers: &[String],
    groups: &[(String, String)],
    absent: &dyn Fn(&str, &str) -> &'static str,
    panel: &Panel,
) -> Result<(), ReportError> {
    let each = || groups.iter().flat_map(|(g, _)| servers.iter().map(move |s| (g.as_str(), s.as_str())));
    let max = each().flat_map(|(g, s)| [(panel.value)(g, s), (panel.marker)(g, s)]).flatten().fold(0.0, f64::max);
    let y_max = if max > 0.0 { max * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..groups.len() as f64, 0f64..y_max)
        .map_err(|e| chart_err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(panel.y_desc)
        // Group names are drawn below by hand: plotters picks its own tick positions.
        .x_labels(0)
        .y_label_formatter(&panel.axis)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(|e| chart_err(&e))?;
    // backend_coord is the whole image's pixel; the area draws from its own corner.
    let (base_x, base_y) = area.get_base_pixel();
    let group_style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (g, (_, label)) in groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
        area.draw(&Text::new(label.clone(), (x - base_x, y - base_y + 8), group_style.clone()))
            .map_err(|e| chart_err(&e))?;
    }
    // Each group spans [g + 0.1, g + 0.9], one bar per server.
    let width = 0.8 / servers.len() as f64;
    let bar_x = |g: usize, s: usize| g as f64 + 0.1 + width * s as f64;
    let value_style = TextStyle::from(("sans-serif", VALUE_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    let na_style = value_style.color(&RGBColor(0x80, 0x80, 0x80));
    // A value label goes above a marker that would cross it (a bar near its bound).
    let px_per_unit = f64::from(chart.plotting_area().dim_in_pixel().1) / y_max;
    let label_y = |v: f64, marker: Option<f64>| match marker {
        Some(m) if (v - m).abs() * px_per_unit <= f64::from(VALUE_FONT + 2) => v.max(m),
        _ => v,
    };
    for (s, server) in servers.iter().enumerate() {
        let bars = groups.iter().enumerate().filter_map(|(g, (group, _))| {
            let v = (panel.value)(group, server)?;
            Some(Rectangle::new(
                [(bar_x(g, s) + width / 16.0, 0.0), (bar_x(g, s) + width * 15.0 / 16.0, v)],
                server_color(s).filled(),
            ))
        });
        chart.draw_series(bars).map_err(|e| chart_err(&e))?;
        let markers = groups.iter().enumerate().filter_map(|(g, (group, _))| {
            let y = (panel.marker)(group, server)?;
            let (left, right) = (bar_x(g, s) + width / 16.0, bar_x(g, s) + width * 15.0 / 16.0);
            Some(PathElement::new([(left, y), (right, y)], BOUND_COLOR.stroke_width(2)))
        });
        chart.draw_series(markers).map_err(|e| chart_err(&e))?;
        let labels = groups.iter().enumerate().map(|(g, (group, _))| {
            let x = bar_x(g, s) + width / 2.0;
            match (panel.value)(group, server) {
                Some(v) => {
                    Text::new((panel.label)(v), (x, label_y(v, (panel.marker)(group, server))), value_style.clone())
                }
                None => Text::new(absent(group, server).to_owned(), (x, 0.0), na_style.clone()),
            }
        });
        chart.draw_series(labels).map_err(|e| chart_err(&e))?;
    }
    Ok(())
}

/// The chart of the fixed-load cells: RPS per server, one group of bars per table, each
/// bar with its cell's Little's bound across it; below, the server's CPU seconds per 1,000
/// requests (the table's row). An absent bar is a cell that was not measured (marked
/// "n/a") or is invalid (marked "invalid": its figures are no result, and would set the
/// scale).
pub fn render_svg(meta: &RunMeta, cells: &Cells) -> Result<String, ReportError> {
    const WIDTH: u32 = 1000;
    const RPS_HEIGHT: u32 = 560;
    const CPU_HEIGHT: u32 = 380;
    const LEGEND_WIDTH: u32 = 190;
    let servers = &meta.servers;
    // A group is a table: its cells' names less the server, and its label.
    let groups: Vec<(String, String)> = meta
        .schemes()
        .iter()
        .flat_map(|&scheme| {
            MODES.iter().flat_map(move |m| {
                ENDPOINTS
                    .iter()
                    .map(move |e| (format!("{}{}-{}", scheme.prefix(), m.0, e.0), chart_label(scheme, m.0, e.0)))
            })
        })
        .collect();
    let cell = |group: &str, server: &str| cells.get(&format!("{group}-{server}"));
    let measured = |group: &str, server: &str| cell(group, server).and_then(Cell::record);
    let is_invalid = |group: &str, server: &str| matches!(cell(group, server), Some(Cell::Invalid(..)));
    let result = |group: &str, server: &str| cell(group, server).and_then(Cell::valid);
    let cells_where = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
        groups
            .iter()
            .flat_map(|(g, _)| servers.iter().map(move |s| (g, s)))
            .filter(|(g, s)| keep(g, s))
            .map(|(g, s)| format!("{g}-{s}"))
            .collect()
    };
    let invalid = cells_where(&is_invalid);
    let missing = cells_where(&|g, s| measured(g, s).is_none());
    let absent = |group: &str, server: &str| if is_invalid(group, server) { "invalid" } else { "n/a" };
    let rps = |group: &str, server: &str| result(group, server).map(RunResult::rps);
    // The bound is the cell's set-up, not its measurement: drawn for an invalid cell too.
    let bound = |group: &str, server: &str| measured(group, server).and_then(|r| cell_bound(meta, server, r));
    let cpu = |group: &str, server: &str| result(group, server).and_then(cpu_per_1k);
    let none = |_: &str, _: &str| None;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, RPS_HEIGHT + CPU_HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(&e))?;
        let (plots, legend) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (rps_area, cpu_area) = plots.split_vertically(RPS_HEIGHT);
        let rps_panel = Panel {
            caption: format!(
                "Requests per second by server ({} ms upstream delay, fan-out {})",
                meta.delay_ms, meta.fanout
            ),
            y_desc: "Requests per second",
            value: &rps,
            marker: &bound,
            label: |v| format!("{v:.0}"),
            axis: |y| format!("{y:.0}"),
        };
        draw_panel(&rps_area, servers, &groups, &absent, &rps_panel)?;
        let cpu_panel = Panel {
            caption: CPU_CAPTION.to_owned(),
            y_desc: "CPU seconds per 1k requests",
            value: &cpu,
            marker: &none,
            label: |v| format!("{v:.3}"),
            axis: |y| format!("{y:.2}"),
        };
        draw_panel(&cpu_area, servers, &groups, &absent, &cpu_panel)?;

        // The legend is drawn by hand in its own column so it never covers a bar.
        let text = TextStyle::from(("sans-serif", 14).into_font());
        let small = TextStyle::from(("sans-serif", 12).into_font());
        let top = 70;
        legend.draw(&Text::new("Server", (10, top - 26), text.clone())).map_err(|e| chart_err(&e))?;
        for (s, server) in servers.iter().enumerate() {
            let y = top + 24 * s as i32;
            legend
                .draw(&Rectangle::new([(10, y - 2), (26, y + 12)], server_color(s).filled()))
                .map_err(|e| chart_err(&e))?;
            legend.draw(&Text::new(server.to_string(), (34, y), text.clone())).map_err(|e| chart_err(&e))?;
        }
        let mut y = top + 24 * servers.len() as i32 + 6;
        legend
            .draw(&PathElement::new([(10, y + 6), (26, y + 6)], BOUND_COLOR.stroke_width(2)))
            .map_err(|e| chart_err(&e))?;
        legend.draw(&Text::new(BOUND_LEGEND, (34, y), text.clone())).map_err(|e| chart_err(&e))?;
        y += 18;
        for line in ["C/D, or min(C, threads)/D", "for a pooled server"] {
            legend.draw(&Text::new(line, (34, y), small.clone())).map_err(|e| chart_err(&e))?;
            y += 16;
        }
        y += 16;
        let mut note = Vec::new();
        if !missing.is_empty() {
            note.extend(["n/a: not measured".to_owned(), "(see results.md):".to_owned()]);
            note.extend(missing.iter().cloned());
        }
        if !invalid.is_empty() {
            note.extend(["invalid: no result".to_owned(), "(see results.md):".to_owned()]);
            note.extend(invalid.iter().cloned());
        }
        if note.is_empty() {
            note.push(format!("All {} cells measured.", groups.len() * servers.len()));
        }
        for line in note {
            legend.draw(&Text::new(line, (10, y), small.clone())).map_err(|e| chart_err(&e))?;
            y += 16;
        }
        root.present().map_err(|e| chart_err(&e))?;
    }
    Ok(svg)
}

/// The CPU panel's title.
pub const CPU_CAPTION: &str = "Server CPU seconds per 1,000 requests (lower is cheaper)";

/// The legend's name for the bound markers.
pub const BOUND_LEGEND: &str = "Little's bound";
