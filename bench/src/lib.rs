//! bench: the benchmark's runner. `bench run` is the whole run that `./run_all.sh`
//! launches: the roster ([`roster`]), the plan of cells and the fd budget ([`plan`]), the
//! processes it starts, pins, stops and probes ([`process`], [`probe`]), the capacity
//! phase's CPU quota (`quota`), progress, and run.json written from the report's types;
//! then the report. `bench report`, `bench field` and `bench roster` are the report's and
//! the roster's commands for the scripts.
//!
//! Run with: `./run_all.sh --quick` (or `cargo run --release -p bench -- run --quick`).

pub mod cli;
mod clock;
pub mod error;
pub mod lab;
mod machine;
pub mod plan;
pub mod probe;
pub mod process;
mod progress;
pub mod publish;
mod python;
mod quota;
pub mod roster;
pub mod run;
pub mod values;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::Command;
pub use crate::error::BenchError;
use crate::roster::Roster;

/// The repository's root: where bench was built (target/release/bench), else the
/// current directory.
fn root() -> PathBuf {
    let built = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()));
    built.filter(|r| r.join(roster::ROSTER_FILE).is_file()).unwrap_or_else(|| PathBuf::from("."))
}

/// The whole program: parse, run, print; errors as one line on stderr.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let name = match args.first().map(String::as_str) {
        Some("run") => "run_all.sh".to_owned(),
        Some(
            sub @ ("servers" | "cpu" | "latency" | "recovery" | "capacity-check" | "tls-profile" | "gosleep"
            | "gosleep-tls-cpu" | "loadgen" | "flask-bound"),
        ) => {
            format!("bench {sub}")
        }
        _ => "bench".to_owned(),
    };
    match dispatch(&root, &args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The command line as typed: `program` and the subcommand's arguments.
fn typed(program: &str, args: &[String]) -> String {
    std::iter::once(program).chain(args.iter().skip(1).map(String::as_str)).collect::<Vec<_>>().join(" ")
}

fn dispatch(root: &Path, args: &[String]) -> Result<ExitCode, BenchError> {
    let roster = Roster::load(root)?;
    if let (Some(_), Some(glued)) = (args.first(), cli::glued(args)) {
        return Err(BenchError::Usage(format!("unknown argument {glued}")));
    }
    let cli = match cli::parse(&roster, args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(BenchError::Usage(cli::usage_line(&e))),
    };
    match cli.command {
        Command::Run(flags) => {
            let settings = flags.settings(&roster).map_err(BenchError::Usage)?;
            let command =
                std::iter::once("./run_all.sh").chain(args[1..].iter().map(String::as_str)).collect::<Vec<_>>();
            run::start(root, &settings, &command.join(" "))
        }
        Command::Report { dir, output } => {
            let output = output.unwrap_or_else(|| dir.join(bench_report::REPORT_FILE));
            let written = bench_report::write_report(&dir, &output)?;
            if !written.invalid.is_empty() {
                return Err(BenchError::InvalidCells {
                    markdown: written.markdown.display().to_string(),
                    invalid: written.invalid,
                });
            }
            let mut files: Vec<String> =
                [Some(&written.markdown), Some(&written.chart), written.capacity_chart.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|p| p.display().to_string())
                    .collect();
            let last = files.pop().unwrap_or_default();
            println!("wrote {} and {last}", files.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Command::Field { file, paths } => {
            for value in bench_report::field::values(&file, &paths).map_err(BenchError::Field)? {
                println!("{value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Servers(a) => {
            lab::servers::run(root, &roster, &a, &typed("bench servers", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::Cpu(a) => lab::cpu::run(root, &roster, &a, &typed("bench cpu", args)).map(|()| ExitCode::SUCCESS),
        Command::Latency(a) => {
            lab::latency::run(root, &roster, &a, &typed("bench latency", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::Recovery(a) => {
            lab::recovery::run(root, &roster, &a, &typed("bench recovery", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::TlsProfile(a) => {
            lab::tls_profile::run(root, &roster, &a, &typed("bench tls-profile", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::Publish { run, to } => {
            let run = run.unwrap_or_else(|| root.join("results/latest"));
            publish::publish(&run, &to.unwrap_or_else(|| root.to_owned())).map(|()| ExitCode::SUCCESS)
        }
        Command::CapacityCheck(a) => lab::capacity_check::run(root, &roster, &a).map(|()| ExitCode::SUCCESS),
        Command::Gosleep(a) => lab::gosleep::run(root, &a, &typed("bench gosleep", args)).map(|()| ExitCode::SUCCESS),
        Command::GosleepTlsCpu(a) => lab::gosleep_tls_cpu::run(root, &a).map(|()| ExitCode::SUCCESS),
        Command::Loadgen(a) => {
            lab::versus_wrk::run(root, &a, &typed("bench loadgen", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::FlaskBound(a) => {
            lab::flask_bound::run(root, &roster, &a, &typed("bench flask-bound", args)).map(|()| ExitCode::SUCCESS)
        }
        Command::Roster { filters } => {
            let picked = roster.filter(&filters).map_err(BenchError::Usage)?;
            println!("{}", picked.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" "));
            Ok(ExitCode::SUCCESS)
        }
    }
}
