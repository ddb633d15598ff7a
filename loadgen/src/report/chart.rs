//! The SVG charts: RPS per fixed-load cell (bars, each with its Little's bound) over CPU
//! seconds per 1,000 requests (bars), and p99 against offered rate from the capacity
//! searches (one panel per cell). Text is SVG `<text>`, so no font is needed.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::validity::{capacity_invalid_reason, cell_bound, invalid_reason};
use super::{Cell, Cells, ENDPOINTS, MODES, ReportError, Run, RunMeta, Scheme, capacity_cell_name, chart_label};
use crate::capacity::Bound;
use crate::figures::cpu_per_1k;
use crate::result::RunResult;

/// The first colours, one per server in column order: Okabe–Ito, readable by
/// colour-blind readers. Servers past them get derived hues ([`server_color`]).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x99, 0x99, 0x33),
];

/// The colour of the server in column `i`: the palette, then hues a golden angle apart,
/// so that a longer server list never runs out of colours nor repeats a neighbour's.
pub fn server_color(i: usize) -> RGBColor {
    if let Some(c) = PALETTE.get(i) {
        return *c;
    }
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let hue = (0.1 + GOLDEN * (i - PALETTE.len()) as f64).fract();
    let RGBAColor(r, g, b, _) = HSLColor(hue, 0.65, 0.42).to_rgba();
    RGBColor(r, g, b)
}

fn chart_err(e: &dyn std::fmt::Display) -> ReportError {
    ReportError::Chart(e.to_string())
}

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
    let measured = |group: &str, server: &str| match cells.get(&format!("{group}-{server}")) {
        Some(Cell::Measured(r)) => Some(&**r),
        _ => None,
    };
    let is_invalid =
        |group: &str, server: &str| measured(group, server).is_some_and(|r| invalid_reason(meta, server, r).is_some());
    let result = |group: &str, server: &str| measured(group, server).filter(|_| !is_invalid(group, server));
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

/// One server's line in one panel of the latency-vs-load chart.
struct Line {
    /// Column of the server (its colour).
    server: usize,
    /// (offered rate, p99 ms) of every step, in offered-rate order.
    points: Vec<(f64, f64)>,
    /// (capacity, p99 ms there), when the search gives the server's figure.
    capacity: Option<(f64, f64)>,
    /// The search's SLO, ms.
    slo_ms: f64,
}

/// The lines of one panel (scheme, mode, endpoint), and the cells of it not drawn, by name.
fn panel_lines(run: &Run, scheme: Scheme, mode: &str, endpoint: &str) -> (Vec<Line>, Vec<String>) {
    let mut lines = Vec::new();
    let mut absent = Vec::new();
    for (i, server) in run.meta.servers.iter().enumerate() {
        let name = capacity_cell_name(scheme, mode, endpoint, server);
        let cell = run.capacity.get(&name);
        let Some(Cell::Measured(cap)) = cell else {
            absent.push(name);
            continue;
        };
        if capacity_invalid_reason(&run.meta, cap).is_some() {
            absent.push(name);
            continue;
        }
        let p99_ms = |s: &crate::capacity::Step| s.result.latency_summary.p99_us as f64 / 1000.0;
        // One point per rate, the run the search's verdict there rests on, in rate order.
        let points: Vec<(f64, f64)> = cap
            .latest_steps()
            .iter()
            .map(|s| (s.offered_rps, p99_ms(s)))
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        let capacity = match super::capacity::verdict(&run.meta, cell) {
            super::capacity::Verdict::Figure { cap, step, .. } => {
                Some((super::capacity::capacity_figure(cap, step), p99_ms(step))).filter(|(_, y)| *y > 0.0)
            }
            _ => None,
        };
        if cap.bound == Bound::Client {
            absent.push(format!("{name}: client-bound"));
        }
        lines.push(Line { server: i, points, capacity, slo_ms: cap.slo_p99_us as f64 / 1000.0 });
    }
    (lines, absent)
}

/// The 1-2-5 values of each decade within `range`: a log axis's own ticks are every
/// integer of a decade, whose labels overlap.
fn ticks(range: &std::ops::Range<f64>) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(range.start.log10().floor());
    while decade <= range.end {
        ticks.extend([1.0, 2.0, 5.0].map(|m| m * decade).into_iter().filter(|v| range.contains(v)));
        decade *= 10.0;
    }
    ticks
}

/// Axis labels for log axes: "1.5", "20", "500".
fn log_label(v: f64) -> String {
    if v >= 10.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// The latency-vs-load chart: one panel per search cell, a 2 x 2 block per scheme (plain HTTP
/// on top, HTTPS below it in a `--tls` run), x = offered rate and y = p99,
/// both log scale and shared by the panels so that they compare; one line per server,
/// its capacity a filled marker; the SLO dashed when every search of the panel shares
/// one. Invalid and unmeasured searches draw nothing and are named in the legend.
pub fn render_capacity_svg(run: &Run) -> Result<String, ReportError> {
    const WIDTH: u32 = 1160;
    /// The height of one scheme's 2 x 2 block of panels.
    const BLOCK_HEIGHT: u32 = 740;
    const LEGEND_WIDTH: u32 = 280;
    const TITLE_HEIGHT: u32 = 40;
    let servers = &run.meta.servers;
    let schemes = run.meta.schemes();
    let height = TITLE_HEIGHT + BLOCK_HEIGHT * schemes.len() as u32;
    let panels: Vec<(String, Vec<Line>, Vec<String>)> = schemes
        .iter()
        .flat_map(|&s| MODES.iter().flat_map(move |m| ENDPOINTS.iter().map(move |e| (s, m.0, e.0))))
        .map(|(s, m, e)| {
            let (lines, absent) = panel_lines(run, s, m, e);
            (chart_label(s, m, e), lines, absent)
        })
        .collect();
    let lines = || panels.iter().flat_map(|p| &p.1);
    let xs: Vec<f64> = lines().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    let ys: Vec<f64> =
        lines().flat_map(|l| l.points.iter().map(|p| p.1).chain([l.slo_ms])).filter(|y| *y > 0.0).collect();
    // Room around the data on a log axis: a factor, not a sum.
    let span = |v: &[f64]| match v.iter().copied().reduce(f64::min).zip(v.iter().copied().reduce(f64::max)) {
        Some((lo, hi)) => lo / 1.3..hi * 1.3,
        None => 1.0..10.0,
    };
    let (x_range, y_range) = (span(&xs), span(&ys));
    let delay = run.meta.capacity.as_ref().map_or(0, |c| c.delay_ms);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(&e))?;
        let (title, body) = root.split_vertically(TITLE_HEIGHT);
        let title_style = TextStyle::from(("sans-serif", 20).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let caption = format!("p99 latency against offered rate ({delay} ms upstream delay)");
        title
            .draw(&Text::new(caption, ((WIDTH - LEGEND_WIDTH) as i32 / 2, TITLE_HEIGHT as i32 / 2), title_style))
            .map_err(|e| chart_err(&e))?;
        let (plots, legend) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        for (area, (label, lines, _)) in plots.split_evenly((2 * schemes.len(), 2)).iter().zip(&panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(label, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(
                    x_range.clone().log_scale().with_key_points(ticks(&x_range)),
                    y_range.clone().log_scale().with_key_points(ticks(&y_range)),
                )
                .map_err(|e| chart_err(&e))?;
            chart
                .configure_mesh()
                .x_desc("Offered rate (req/s)")
                .y_desc("p99 (ms)")
                // A log axis has a light line per minor tick: hundreds of them, little help.
                .light_line_style(TRANSPARENT)
                .x_label_formatter(&|x| log_label(*x))
                .y_label_formatter(&|y| log_label(*y))
                .label_style(("sans-serif", 11))
                .axis_desc_style(("sans-serif", 12))
                .draw()
                .map_err(|e| chart_err(&e))?;
            if let Some(first) = lines.first()
                && lines.iter().all(|l| l.slo_ms == first.slo_ms)
            {
                let style = RGBColor(0x55, 0x55, 0x55).stroke_width(1);
                let slo = [(x_range.start, first.slo_ms), (x_range.end, first.slo_ms)];
                chart.draw_series([DashedPathElement::new(slo, 8, 6, style)]).map_err(|e| chart_err(&e))?;
            }
            for line in lines {
                let color = server_color(line.server);
                chart
                    .draw_series([PathElement::new(line.points.clone(), color.stroke_width(2))])
                    .map_err(|e| chart_err(&e))?;
                if let Some(point) = line.capacity {
                    chart.draw_series([Circle::new(point, 5, color.filled())]).map_err(|e| chart_err(&e))?;
                }
            }
            if lines.is_empty() {
                let middle = ((x_range.start * x_range.end).sqrt(), (y_range.start * y_range.end).sqrt());
                let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
                let text = Text::new("no capacity search to draw", middle, style);
                chart.draw_series([text]).map_err(|e| chart_err(&e))?;
            }
        }

        // The legend is drawn by hand in its own column so it never covers a line.
        let text = TextStyle::from(("sans-serif", 14).into_font());
        let small = TextStyle::from(("sans-serif", 12).into_font());
        let top = 40;
        legend.draw(&Text::new("Server", (10, top - 26), text.clone())).map_err(|e| chart_err(&e))?;
        for (s, server) in servers.iter().enumerate() {
            let y = top + 24 * s as i32;
            let color = server_color(s);
            legend.draw(&Rectangle::new([(10, y + 3), (30, y + 7)], color.filled())).map_err(|e| chart_err(&e))?;
            legend.draw(&Text::new(server.to_string(), (38, y), text.clone())).map_err(|e| chart_err(&e))?;
        }
        let mut y = top + 24 * servers.len() as i32 + 10;
        legend.draw(&Circle::new((20, y + 6), 5, BLACK.filled())).map_err(|e| chart_err(&e))?;
        legend.draw(&Text::new("capacity", (38, y), small.clone())).map_err(|e| chart_err(&e))?;
        y += 20;
        let dash = RGBColor(0x55, 0x55, 0x55).stroke_width(1);
        legend.draw(&PathElement::new([(10, y + 6), (16, y + 6)], dash)).map_err(|e| chart_err(&e))?;
        legend.draw(&PathElement::new([(22, y + 6), (28, y + 6)], dash)).map_err(|e| chart_err(&e))?;
        legend.draw(&Text::new("SLO (p99)", (38, y), small.clone())).map_err(|e| chart_err(&e))?;
        y += 28;
        let absent: Vec<&String> = panels.iter().flat_map(|p| &p.2).collect();
        if !absent.is_empty() {
            for line in ["not drawn, or drawn without", "a capacity marker (client-bound)", "(see results.md):"] {
                legend.draw(&Text::new(line, (10, y), small.clone())).map_err(|e| chart_err(&e))?;
                y += 16;
            }
            for name in absent {
                legend.draw(&Text::new(name.clone(), (10, y), small.clone())).map_err(|e| chart_err(&e))?;
                y += 16;
            }
        }
        root.present().map_err(|e| chart_err(&e))?;
    }
    Ok(svg)
}
