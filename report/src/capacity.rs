//! The capacity section of results.md: how the searches ran, a table per cell (capacity,
//! what bound it, the server's CPU, p99 and memory there, and capacity relative to the
//! reference server), and the memory per in-flight request of every search.

use std::fmt::Write as _;

use super::baseline::vs_python_line;
use super::validity::step_at_capacity;
use super::{
    CapacityCells, Cell, DASH, ENDPOINTS, Footnotes, MODES, RunMeta, Scheme, capacity_cell_name, esc, grouped,
    measured_header, write_table,
};
use loadgen::capacity::{Bound, CLIENT_BOUND_SHARE, Capacity, Phase, Step};
use loadgen::figures::cpu_per_1k;

/// The server every capacity is compared with: the bare hyper server, the least code
/// between the socket and the upstream call.
pub(super) const REFERENCE_SERVER: &str = "hyper";

/// Row labels of each capacity table, in order.
pub const CAPACITY_ROWS: [&str; 7] = [
    "Capacity (req/s)",
    "Bound",
    "Server CPU at capacity",
    "p99 at capacity",
    "p99 SLO",
    "Peak RSS at capacity",
    "vs server-hyper",
];

/// Index in [`CAPACITY_ROWS`] of the comparison with the reference server, filled in
/// once every column of the table is known.
const VS_ROW: usize = CAPACITY_ROWS.len() - 1;

/// What a capacity cell shows.
pub(super) enum Verdict<'a> {
    /// The server's capacity and its step; `lower_bound` says why the figure is only a
    /// lower bound of it, when it is.
    Figure { cap: &'a Capacity, step: &'a Step, lower_bound: Option<&'static str> },
    /// No figure: why (not measured, client-bound, first step failed...).
    NoFigure(String),
    /// A record that is no result: why.
    Invalid(String),
}

/// The verdict on a capacity cell. A client-bound search gives no figure: what
/// it measured is the client's limit, a lower bound of the server's, so it goes in the
/// footnote and never in the server's column.
pub(super) fn verdict(cell: Option<&Cell<Capacity>>) -> Verdict<'_> {
    let cap = match cell {
        Some(Cell::Valid(cap)) => cap,
        Some(Cell::Invalid(_, why)) => return Verdict::Invalid(why.clone()),
        Some(Cell::Missing(reason)) => return Verdict::NoFigure(reason.clone()),
        None => return Verdict::NoFigure("failed: not loaded".into()),
    };
    match (cap.bound, step_at_capacity(cap)) {
        (Bound::Client, _) => {
            let at_least = match cap.capacity_rps {
                Some(rps) => format!("at least {} req/s", grouped(rps)),
                None => "no figure".into(),
            };
            Verdict::NoFigure(format!("{at_least}, client-bound: {}", client_share(cap)))
        }
        (Bound::FirstStep, _) => {
            // The light step, or its rate run again when a confirming run failed there.
            let step = cap.deciding_step();
            let which = match step.map(|s| s.phase) {
                Some(Phase::Confirm) => "the light step's rate failed when run again",
                _ => "the first, light step failed",
            };
            let why = step.and_then(|s| s.failure.clone()).unwrap_or_else(|| "no reason recorded".into());
            Verdict::NoFigure(format!("no capacity: {which} ({why})"))
        }
        (bound, Some(step)) => {
            let lower_bound = match bound {
                Bound::FdBudget => Some("a lower bound: the next step's connections would not fit in the fd budget"),
                Bound::MaxRate => Some("a lower bound: every step passed, up to the search's --max-rate"),
                _ => None,
            };
            Verdict::Figure { cap, step, lower_bound }
        }
        (_, None) => Verdict::NoFigure("no capacity: the record names no passing step at capacity".into()),
    }
}

/// "loadgen 91% of its core": what bound the client side at the lowest failing step above
/// capacity (where the search decides its bound), in the search's own words.
fn client_share(cap: &Capacity) -> String {
    match cap.deciding_step() {
        Some(step) if !step.client.bound_words().is_empty() => step.client.bound_words(),
        _ => format!("a client process over {:.0}% of its core", 100.0 * CLIENT_BOUND_SHARE),
    }
}

/// The capacity a search gives, from its step at capacity: the table, the summary and the
/// chart all show this figure.
pub(super) fn capacity_figure(cap: &Capacity, step: &Step) -> f64 {
    cap.capacity_rps.unwrap_or(step.offered_rps)
}

/// What a search names as its bound, in the table's words.
pub(super) fn bound_label(bound: Bound) -> &'static str {
    match bound {
        Bound::Cpu => "CPU",
        Bound::Pool => "pool",
        Bound::Concurrency => "concurrency",
        Bound::FdBudget => "fd budget",
        Bound::Client => "client",
        Bound::FirstStep => "first step",
        Bound::MaxRate => "max rate",
    }
}

/// "0.5 core", "2 cores".
fn cores_text(cores: f64) -> String {
    let rounded = (cores * 100.0).round() / 100.0;
    format!("{rounded} {}", if rounded > 1.0 { "cores" } else { "core" })
}

fn ms(us: u64) -> String {
    loadgen::capacity::ms(std::time::Duration::from_micros(us))
}

/// The rows of a column with a figure, in [`CAPACITY_ROWS`] order, "vs" left empty.
fn figure_column(
    cap: &Capacity,
    step: &Step,
    lower_bound: Option<String>,
    notes: &mut Footnotes,
) -> [String; CAPACITY_ROWS.len()] {
    let rps = capacity_figure(cap, step);
    let capacity = match lower_bound {
        Some(mark) => format!("≥ {} {mark}", grouped(rps)),
        None => grouped(rps),
    };
    let (cpu, rss) = match &step.result.server {
        Some(s) => (
            match cap.server_cores {
                Some(cores) if cores > 0.0 => format!("{:.0}% of {}", s.cpu_percent / cores, cores_text(cores)),
                _ => format!("{:.0}% of one core", s.cpu_percent),
            },
            format!("{:.1} MiB", s.peak_rss_kib as f64 / 1024.0),
        ),
        None => {
            let dash =
                format!("{DASH} {}", notes.mark("no server sample (the search ran without --server-pid)".into()));
            (dash.clone(), dash)
        }
    };
    [
        capacity,
        bound_label(cap.bound).to_owned(),
        cpu,
        ms(step.result.latency_summary.p99_us),
        ms(cap.slo_p99_us),
        rss,
        String::new(),
    ]
}

/// One capacity table: title, the Markdown table, its footnotes.
fn render_table(
    out: &mut String,
    meta: &RunMeta,
    cells: &CapacityCells,
    scheme: Scheme,
    mode: (&str, &str),
    endpoint: (&str, &str),
) {
    let mut notes = Footnotes::default();
    let mut header = Vec::new();
    let mut columns = Vec::new();
    // (capacity, footnote mark if a lower bound) of each column with a figure.
    let mut figures = Vec::new();
    // CPU per 1k requests at capacity, for the line against the Python baselines.
    let mut costs = Vec::new();
    for server in &meta.servers {
        let name = capacity_cell_name(scheme, mode.0, endpoint.0, server);
        let verdict = verdict(cells.get(&name));
        let cost = match &verdict {
            Verdict::Figure { step, .. } => cpu_per_1k(&step.result),
            _ => None,
        };
        costs.push((server.as_str(), cost));
        match verdict {
            Verdict::Figure { cap, step, lower_bound } => {
                let mark = lower_bound.map(|why| notes.mark(format!("{name}: {why}")));
                header.push(measured_header(meta, &name, server, &mut notes));
                figures.push(Some((capacity_figure(cap, step), mark.clone())));
                columns.push(figure_column(cap, step, mark, &mut notes));
            }
            Verdict::NoFigure(why) => {
                let mark = notes.mark(format!("{name}: {why}"));
                header.push(format!("{} {mark}", measured_header(meta, &name, server, &mut notes)));
                figures.push(None);
                columns.push(std::array::from_fn(|_| DASH.to_owned()));
            }
            Verdict::Invalid(why) => {
                let mark = notes.mark(format!("{name}: invalid, {why}"));
                let Some(Cell::Invalid(cap, _)) = cells.get(&name) else { unreachable!("only a record is invalid") };
                // Bound and SLO still say how the search ran; the rest is no result.
                let col = std::array::from_fn(|i| match CAPACITY_ROWS[i] {
                    "Bound" => bound_label(cap.bound).to_owned(),
                    "p99 SLO" => ms(cap.slo_p99_us),
                    _ => format!("invalid {mark}"),
                });
                header.push(format!("{} {mark}", measured_header(meta, &name, server, &mut notes)));
                figures.push(None);
                columns.push(col);
            }
        }
    }
    let reference = meta.servers.iter().position(|s| s == REFERENCE_SERVER);
    let reference_figure = reference.and_then(|i| figures[i].clone());
    let absent = reference.is_none().then(|| notes.mark(format!("server-{REFERENCE_SERVER} is not in this run")));
    for (col, figure) in columns.iter_mut().zip(&figures) {
        if col[VS_ROW].starts_with("invalid") {
            continue;
        }
        col[VS_ROW] = match (figure, &reference_figure, &absent) {
            (Some((rps, mark)), Some((base, base_mark)), _) if *base > 0.0 => {
                // A ratio with a lower bound on either side is no better than that bound.
                let marks: Vec<&str> = [mark, base_mark].into_iter().flatten().map(String::as_str).collect();
                format!("{:.2} {}", rps / base, marks.join(" ")).trim_end().to_owned()
            }
            (_, _, Some(mark)) => format!("{DASH} {mark}"),
            _ => DASH.to_owned(),
        };
    }
    let title = format!("Capacity — {}", super::tables::table_title(scheme, mode.1, endpoint.1));
    write_table(out, &title, &header, &CAPACITY_ROWS, &columns, &notes);
    if let Some(line) = vs_python_line(meta.python.as_ref(), "at capacity", &costs) {
        let _ = writeln!(out, "{line}\n");
    }
}

/// The memory table of a scheme: rows = servers, columns = the four cells, KiB of peak RSS
/// per request in flight from each search's record.
fn render_memory(out: &mut String, meta: &RunMeta, cells: &CapacityCells, scheme: Scheme) {
    let mut notes = Footnotes::default();
    let labels: Vec<String> =
        MODES.iter().flat_map(|m| ENDPOINTS.iter().map(move |e| super::short_label(m.0, e.0))).collect();
    match scheme {
        Scheme::Http => out.push_str("### Memory per in-flight request\n\n"),
        Scheme::Https => out.push_str("### Memory per in-flight request — HTTPS upstream\n\n"),
    }
    out.push_str(
        "Growth of the server's peak RSS per request in flight, KiB: the slope between the light \
         step and the highest passing rising step of each search (in flight = answered rate x mean \
         latency). What a model spends per waiting request: a thread's stack, or a task's state.\n\n",
    );
    let _ = writeln!(out, "| | {} |", labels.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(labels.len()));
    for server in &meta.servers {
        let mut values = Vec::new();
        for (mode, _) in MODES {
            for (endpoint, _) in ENDPOINTS {
                let name = capacity_cell_name(scheme, mode, endpoint, server);
                let value = match (cells.get(&name), verdict(cells.get(&name))) {
                    (_, Verdict::Invalid(why)) => format!("invalid {}", notes.mark(format!("{name}: invalid, {why}"))),
                    (Some(Cell::Valid(cap)), _) => match cap.rss_kib_per_in_flight {
                        Some(kib) => format!("{kib:.1} KiB"),
                        None => format!(
                            "{DASH} {}",
                            notes.mark(format!(
                                "{name}: no slope in the record (it needs the light step and a higher passing \
                                 step, each with a server sample)"
                            ))
                        ),
                    },
                    (_, Verdict::NoFigure(why)) => format!("{DASH} {}", notes.mark(format!("{name}: {why}"))),
                    (_, Verdict::Figure { .. }) => unreachable!("a figure comes from a record"),
                };
                values.push(esc(&value));
            }
        }
        let _ = writeln!(out, "| {server} | {} |", values.join(" | "));
    }
    notes.render(out);
}

/// The capacity section: how the searches ran, the four tables, the memory table, the
/// latency-vs-load chart, how to read them. Without searches, one line saying so.
pub(super) fn render_section(out: &mut String, meta: &RunMeta, cells: &CapacityCells, chart_link: &str) {
    out.push_str("\n## Capacity\n\n");
    let Some(run) = &meta.capacity else {
        out.push_str("This run made no capacity search (`\"capacity\": null` in run.json).\n");
        return;
    };
    out.push_str(
        "How much load each server carries before its latency breaks. `loadgen capacity` offers \
         requests at a fixed rate (open loop: a slow answer does not slow the offered load, and \
         latency is corrected for coordinated omission), doubling the rate from a light first \
         step until a step fails, then bisecting on a fixed grid of rates (8 to a doubling, \
         9% apart) until the passing and failing rates are neighbours, each run a second time, \
         each rate judged by its latest run. A step passes when at least 99% of the offered \
         requests are answered, with no socket error, no non-2xx answer and its p99 within the \
         SLO; the capacity is the highest passing rate below the lowest failing one.\n\n",
    );
    let _ = writeln!(out, "- **Upstream delay**: {} ms per upstream call.", run.delay_ms);
    let quota = match run.server_cpu_quota {
        Some(q) => format!("each server ran under a CPU quota of {}; figures are per that quota.", cores_text(q)),
        None => "no quota: each server could use every core it was pinned to.".to_owned(),
    };
    let _ = writeln!(out, "- **Server CPU**: {quota}");
    let slo = match run.slo_p99_ms {
        Some(ms) => format!("p99 at most {ms} ms, for every search."),
        None => "each search's default, twice the p50 of its light first step (row \"p99 SLO\").".to_owned(),
    };
    let _ = writeln!(out, "- **SLO**: {slo}\n");
    for &scheme in meta.schemes() {
        for mode in MODES {
            for endpoint in ENDPOINTS {
                render_table(out, meta, cells, scheme, mode, endpoint);
            }
        }
    }
    for &scheme in meta.schemes() {
        render_memory(out, meta, cells, scheme);
    }
    // An HTTPS run's chart has a second block of four panels, below the plain-HTTP ones.
    let blocks = if meta.tls.is_some() { ", plain HTTP above HTTPS" } else { "" };
    let _ = writeln!(
        out,
        "![p99 against offered rate, one line per server, one panel per cell{blocks}; filled markers: \
         capacity]({chart_link})\n"
    );
    out.push_str(HOW_TO_READ_CAPACITY);
}

const HOW_TO_READ_CAPACITY: &str = "### How to read the capacity

- **Capacity**: the highest offered rate that passed. **≥**: a lower bound (the note says
  why: the fd budget stopped the search, or every step passed up to its maximum rate).
- **Bound**: what stopped it. **CPU**: the server used at least 90% of its cores at the
  first failing rate. **pool**: a thread-pool server's in-flight cap, with CPU to spare.
  **concurrency**: some other cap on requests in flight, with CPU to spare. A search where
  loadgen or the upstream ran out of its core is client-bound: its figure is the client's
  limit, so the column shows — and the note gives it as a lower bound.
- **Server CPU at capacity**: the server's CPU in % of the cores it may use (its pinning
  and quota); **p99** and **Peak RSS**: at the step at capacity.
- **vs server-hyper**: capacity over server-hyper's in the same table.
- **Chart**: p99 against offered rate, one point per rate (its latest run); a line turning
  up steeply is the server's knee, the filled marker its capacity, the dashed line the SLO
  when every search of the panel shares one.
";
