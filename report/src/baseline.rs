//! The Python baselines (python/: Flask, Starlette, tornado, run by `./run_all.sh --python`):
//! which columns they are, and the line under each table that sets every Rust server's CPU
//! per request against the cheapest Python server's in that table.

use serde::{Deserialize, Serialize};

/// `run.json`'s `python`: present when the run was asked for the Python baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonRun {
    /// The columns (names in `servers`) that are Python servers.
    pub servers: Vec<String>,
    /// The interpreter and the frameworks' versions, when they ran.
    #[serde(default)]
    pub versions: Option<String>,
    /// Why the Python servers did not run (their cells are skipped), when they did not.
    #[serde(default)]
    pub unavailable: Option<String>,
}

impl PythonRun {
    /// Whether `server` is one of the Python baselines.
    pub fn has(&self, server: &str) -> bool {
        self.servers.iter().any(|s| s == server)
    }

    /// The run header's line on them.
    pub(super) fn header(&self) -> String {
        match (&self.unavailable, &self.versions) {
            (Some(why), _) => format!("not run: {why}"),
            (None, Some(versions)) => versions.clone(),
            (None, None) => "(versions not recorded)".to_owned(),
        }
    }
}

/// The line under a table of a run with Python baselines (`None` without them): each Rust
/// server's CPU per request over the cheapest Python server's. `costs` holds each column's
/// CPU seconds per 1,000 requests (`None`: no result, or no server sample), in column order;
/// `at` says where they were measured, if not at the table's load ("at capacity").
pub(super) fn vs_python_line(python: Option<&PythonRun>, at: &str, costs: &[(&str, Option<f64>)]) -> Option<String> {
    let python = python?;
    let lead =
        format!("**Rust vs Python**, CPU per request{}", if at.is_empty() { String::new() } else { format!(" {at}") });
    let cheapest = costs
        .iter()
        .filter(|(s, _)| python.has(s))
        .filter_map(|(s, c)| Some((*s, (*c)?)))
        .reduce(|a, b| if b.1 < a.1 { b } else { a });
    let Some((best, best_cost)) = cheapest.filter(|(_, c)| *c > 0.0) else {
        return Some(format!("{lead}: no Python server has a result in this table (its notes say why)."));
    };
    let ratios: Vec<String> = costs
        .iter()
        .filter(|(s, _)| !python.has(s))
        .filter_map(|(s, c)| Some(format!("{s} {:.2}x", (*c)? / best_cost)))
        .collect();
    let against = format!("against the cheapest Python server here, {best} ({best_cost:.3} s per 1k requests)");
    Some(if ratios.is_empty() {
        format!("{lead} {against}: no Rust server has a result in this table.")
    } else {
        format!("{lead} {against}: {} (under 1x: cheaper than {best}).", ratios.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> PythonRun {
        PythonRun {
            servers: vec!["flask".into(), "tornado".into()],
            versions: Some("Python 3.11.7".into()),
            unavailable: None,
        }
    }

    #[test]
    fn each_rust_server_is_set_against_the_cheapest_python_server() {
        let costs = [("hyper", Some(0.1)), ("rouille", Some(0.8)), ("flask", Some(0.9)), ("tornado", Some(0.4))];
        let line = vs_python_line(Some(&python()), "", &costs).unwrap();
        assert!(line.contains("tornado (0.400 s per 1k requests): hyper 0.25x, rouille 2.00x"), "{line}");
    }

    #[test]
    fn columns_without_a_result_are_left_out_and_none_at_all_is_said() {
        let costs = [("hyper", None), ("axum", Some(0.2)), ("flask", Some(0.5)), ("tornado", None)];
        let line = vs_python_line(Some(&python()), "", &costs).unwrap();
        assert!(line.contains("flask (0.500 s per 1k requests): axum 0.40x ("), "{line}");
        let none = vs_python_line(Some(&python()), "", &[("hyper", Some(0.1)), ("flask", None), ("tornado", None)]);
        assert!(none.unwrap().contains("no Python server has a result"));
    }

    #[test]
    fn a_run_without_python_baselines_has_no_line() {
        assert_eq!(vs_python_line(None, "", &[("hyper", Some(0.1))]), None);
    }
}
