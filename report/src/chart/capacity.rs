//! The latency-vs-load chart: p99 against offered rate of every capacity search, one panel
//! per cell, a line per server, each capacity marked.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{chart_err, server_color};
use crate::{Cell, ENDPOINTS, MODES, ReportError, Run, Scheme, capacity_cell_name, chart_label};
use loadgen::capacity::Bound;

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
        let Some(Cell::Valid(cap)) = cell else {
            absent.push(name);
            continue;
        };
        let p99_ms = |s: &loadgen::capacity::Step| s.result.latency_summary.p99_us as f64 / 1000.0;
        // One point per rate, the run the search's verdict there rests on, in rate order.
        let points: Vec<(f64, f64)> = cap
            .latest_steps()
            .iter()
            .map(|s| (s.offered_rps, p99_ms(s)))
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        let capacity = match crate::capacity::verdict(cell) {
            crate::capacity::Verdict::Figure { cap, step, .. } => {
                Some((crate::capacity::capacity_figure(cap, step), p99_ms(step))).filter(|(_, y)| *y > 0.0)
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
