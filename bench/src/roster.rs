//! The servers' roster, `servers/roster.toml`: parsed once into types and checked (a
//! name known twice, a floor that is not a server, a bad column are errors naming the
//! file), then asked by the run, the benchmarks and `bench roster`.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::BenchError;

/// The roster's path under the repository's root.
pub const ROSTER_FILE: &str = "servers/roster.toml";

/// The server every other one's CPU is set against in the scripts' tables ("CPU vs
/// hyper"): the bare async floor.
pub const BASE_SERVER: &str = "hyper";

/// Where a server's binary comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runs {
    /// `target/release/server-NAME`.
    Rust,
    /// `python/bin/server-NAME`, in python/.venv: a baseline of the original experiment.
    Python,
}

/// How a server holds requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// A thread per request: `threads` is a pool that caps the requests in flight.
    Pool,
    /// `threads` workers, each holding any number of requests.
    Async,
}

/// One server of the roster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Its name: its binary is `server-NAME`.
    pub name: String,
    /// Rust or a Python baseline.
    pub runs: Runs,
    /// Pool or async.
    pub model: Model,
    /// Its `--threads` in every benchmark.
    pub threads: NonZeroUsize,
    /// In the default set (`./run_all.sh` without `--servers`).
    pub default: bool,
    /// The bare server of its model that its CPU is set against.
    pub floor: Option<String>,
    /// The capacity search's first rate, req/s, where loadgen's default is too heavy.
    pub start: Option<NonZeroUsize>,
}

impl Server {
    /// Whether its `--threads` is a pool that caps its requests in flight.
    pub fn pooled(&self) -> bool {
        self.model == Model::Pool
    }

    /// Whether it is one of the Python baselines.
    pub fn python(&self) -> bool {
        self.runs == Runs::Python
    }

    /// Its executable under the repository's root `root`.
    pub fn binary(&self, root: &Path) -> PathBuf {
        match self.runs {
            Runs::Rust => root.join("target/release").join(format!("server-{}", self.name)),
            Runs::Python => root.join("python/bin").join(format!("server-{}", self.name)),
        }
    }
}

/// The roster: every server, in column order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    #[serde(rename = "server")]
    servers: Vec<Server>,
}

impl Roster {
    /// Reads and checks `ROSTER_FILE` under `root`.
    pub fn load(root: &Path) -> Result<Self, BenchError> {
        let path = root.join(ROSTER_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| BenchError::Roster(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|why| BenchError::Roster(format!("{}: {why}", path.display())))
    }

    /// Parses and checks a roster's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let roster: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        for (i, s) in roster.servers.iter().enumerate() {
            if s.name.is_empty() || !s.name.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(format!("server {:?}: a name is lowercase letters only", s.name));
            }
            if roster.servers[..i].iter().any(|t| t.name == s.name) {
                return Err(format!("server {} is listed twice", s.name));
            }
            if let Some(floor) = &s.floor
                && roster.get(floor).is_none()
            {
                return Err(format!("{}'s floor {floor} is not a server of the roster", s.name));
            }
        }
        if roster.servers.is_empty() {
            return Err("no server".to_owned());
        }
        Ok(roster)
    }

    /// Every server, in column order.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The server named `name`.
    pub fn get(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The servers named in `list` (comma-separated, e.g. `axum,hyper`), in the order given.
    pub fn pick(&self, list: &str) -> Result<Vec<&Server>, String> {
        let names: Vec<&str> = list.split(',').collect();
        if names.iter().any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(format!("{list} has an empty or malformed name (write e.g. axum,hyper)"));
        }
        names
            .into_iter()
            .map(|n| self.get(n).ok_or_else(|| format!("unknown server {n} (known: {})", self.names())))
            .collect()
    }

    /// Every name, space-separated.
    pub fn names(&self) -> String {
        self.servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The servers whose every `column=value` filter matches (`runs=python`, `default=yes`);
    /// an unknown column is an error.
    pub fn filter(&self, filters: &[String]) -> Result<Vec<&Server>, String> {
        let mut picked = Vec::new();
        for s in &self.servers {
            let mut all = true;
            for f in filters {
                let (column, value) =
                    f.split_once('=').ok_or_else(|| format!("a filter is COLUMN=VALUE, got {f:?}"))?;
                all &= column_value(s, column)? == value;
            }
            if all {
                picked.push(s);
            }
        }
        Ok(picked)
    }
}

/// The columns a filter may name.
pub const COLUMNS: [&str; 7] = ["name", "runs", "model", "threads", "default", "floor", "start"];

/// A column of a server as a filter names it (`-` for none, `default` as yes or no).
fn column_value(s: &Server, column: &str) -> Result<String, String> {
    let none = || "-".to_owned();
    Ok(match column {
        "name" => s.name.clone(),
        "runs" => if s.python() { "python" } else { "rust" }.to_owned(),
        "model" => if s.pooled() { "pool" } else { "async" }.to_owned(),
        "threads" => s.threads.to_string(),
        "default" => if s.default { "yes" } else { "no" }.to_owned(),
        "floor" => s.floor.clone().unwrap_or_else(none),
        "start" => s.start.map_or_else(none, |r| r.to_string()),
        _ => return Err(format!("no roster column {column} (columns: {})", COLUMNS.join(" "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository_roster() -> Roster {
        Roster::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))).expect("servers/roster.toml")
    }

    #[test]
    fn the_repository_roster_loads_with_hyper_its_base() {
        let roster = repository_roster();
        assert!(roster.get(BASE_SERVER).is_some_and(|s| !s.pooled() && !s.python()));
        let default: Vec<_> = roster.filter(&["default=yes".to_owned()]).unwrap().iter().map(|s| &s.name).collect();
        assert_eq!(default, ["rouille", "axum", "actix", "warp", "hyper"]);
    }

    #[test]
    fn every_server_has_a_crate_or_a_python_entry_point() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        for s in repository_roster().servers() {
            let source = match s.runs {
                Runs::Rust => root.join("servers").join(&s.name).join("Cargo.toml"),
                Runs::Python => root.join("python/bin").join(format!("server-{}", s.name)),
            };
            assert!(source.exists(), "{}: no {}", s.name, source.display());
        }
    }

    const ONE: &str = "[[server]]\nname = \"hyper\"\nruns = \"rust\"\nmodel = \"async\"\nthreads = 1\ndefault = true\n";

    #[test]
    fn a_roster_that_contradicts_itself_is_refused_naming_why() {
        assert!(Roster::parse(ONE).is_ok());
        let twice = format!("{ONE}{ONE}");
        assert_eq!(Roster::parse(&twice).unwrap_err(), "server hyper is listed twice");
        let floor = ONE.replace("default = true", "default = true\nfloor = \"std\"");
        assert_eq!(Roster::parse(&floor).unwrap_err(), "hyper's floor std is not a server of the roster");
        for (bad, why) in [
            (ONE.replace("threads = 1", "threads = 0"), "nonzero"),
            (ONE.replace("\"async\"", "\"green\""), "unknown variant"),
            (ONE.replace("\"hyper\"", "\"Hyper\""), "lowercase"),
            (ONE.replace("default = true", "default = true\ncolour = 1"), "unknown field"),
            (ONE.replace("default = true\n", ""), "missing field `default`"),
            (String::new(), "missing field `server`"),
        ] {
            let e = Roster::parse(&bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_server_list_names_known_servers_in_the_order_given() {
        let roster = repository_roster();
        let names: Vec<_> = roster.pick("hyper,rouille").unwrap().iter().map(|s| &s.name).collect();
        assert_eq!(names, ["hyper", "rouille"]);
        assert!(roster.pick("hyper,nginx").unwrap_err().starts_with("unknown server nginx (known: rouille axum"));
        assert!(roster.pick("hyper,").unwrap_err().contains("malformed"));
    }

    #[test]
    fn a_filter_names_columns_as_the_roster_file_does() {
        let roster = repository_roster();
        let names = |f: &[&str]| -> Vec<String> {
            let f: Vec<String> = f.iter().map(|x| (*x).to_owned()).collect();
            roster.filter(&f).unwrap().iter().map(|s| s.name.clone()).collect()
        };
        assert_eq!(names(&["runs=python"]), ["flask", "starlette", "tornado"]);
        assert_eq!(names(&["model=pool", "runs=rust"]), ["rouille", "std"]);
        assert_eq!(names(&["floor=hyper"]), ["axum", "actix", "warp"]);
        assert!(roster.filter(&["colour=red".to_owned()]).unwrap_err().contains("no roster column colour"));
    }
}
