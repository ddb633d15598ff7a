//! `bench field FILE PATH...`: one value of a JSON file per line, for the scripts, which
//! then never take a figure out of JSON by text matching. A path names its field exactly
//! (keys joined by dots); one the file lacks is an error naming what is there, never the
//! first number of a similar name, nor an empty string. A run's derived figures
//! ([`DERIVED`]) are asked for by name like a field.

use std::io::Read as _;
use std::path::Path;

use loadgen::figures::cpu_per_1k;
use loadgen::result::RunResult;
use serde_json::Value;

/// Each path's value of the file, in order; or, naming the file, why one has none.
pub fn values(file: &Path, paths: &[String]) -> Result<Vec<String>, String> {
    let name = file.display();
    let json = read(file).map_err(|e| format!("{name}: {e}"))?;
    paths.iter().map(|path| lookup(&json, path)).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{name}: {e}"))
}

fn read(file: &Path) -> Result<Value, String> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map_err(|e| e.to_string())?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    }
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
}

/// The value at `path` in `json` as a script reads it, or a derived figure of a run by that
/// name; or why there is none.
pub fn lookup(json: &Value, path: &str) -> Result<String, String> {
    if let Some(figure) = derived(path) {
        let run: RunResult = serde_json::from_value(json.clone())
            .map_err(|e| format!("{path} is a figure of a loadgen run's --json, and this is not one ({e})"))?;
        return Ok(figure(&run).map_or_else(|| "null".to_owned(), |v| v.to_string()));
    }
    let mut here = json;
    let mut walked: Vec<&str> = Vec::new();
    for key in path.split('.') {
        let next = match here {
            Value::Object(fields) => fields.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        let Some(next) = next else {
            let at = if walked.is_empty() { "the top level".to_owned() } else { walked.join(".") };
            return Err(format!("no field {path}: {at} {}", holds(here)));
        };
        walked.push(key);
        here = next;
    }
    Ok(match here {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A figure a run's result gives without holding it as a field: its name for `bench
/// field` and how it is computed (`None`: the run cannot give it).
pub type Derived = (&'static str, fn(&RunResult) -> Option<f64>);

/// The derived figures, by name. No name is a field of the result's JSON, so a path means
/// one thing.
pub const DERIVED: [Derived; 3] = [
    ("cpu_per_1k_requests", cpu_per_1k),
    ("non_2xx", |r| Some(r.errors.non_2xx() as f64)),
    ("socket_errors", |r| Some(r.errors.socket() as f64)),
];

/// The derived figure `name`, if there is one by that name.
pub fn derived(name: &str) -> Option<fn(&RunResult) -> Option<f64>> {
    DERIVED.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// What a JSON value holds, for the message naming a missing field.
fn holds(value: &Value) -> String {
    match value {
        Value::Object(fields) if fields.is_empty() => "is an empty object".to_owned(),
        Value::Object(fields) => format!("has {}", fields.keys().cloned().collect::<Vec<_>>().join(", ")),
        Value::Array(items) => format!("is an array of {} (index it from 0)", items.len()),
        other => format!("is {other}, not an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::result::ServerSample;

    use crate::tests::fake;

    fn run_json() -> Value {
        let mut run = fake(0);
        run.requests = 2000;
        run.server = Some(ServerSample { cpu_seconds: 0.5, cpu_percent: 7.5, ..ServerSample::default() });
        serde_json::to_value(run).unwrap()
    }

    #[test]
    fn a_path_names_its_field_exactly() {
        let json = run_json();
        assert_eq!(lookup(&json, "requests").unwrap(), "2000");
        assert_eq!(lookup(&json, "latency_summary.p99_us").unwrap(), "1500000");
        assert_eq!(lookup(&json, "server.cpu_percent").unwrap(), "7.5");
        assert_eq!(lookup(&json, "mode.url").unwrap(), "http://127.0.0.1:8080/single", "a string prints as it is");
        assert_eq!(lookup(&json, "mode.rate").unwrap(), "null");
        assert_eq!(lookup(&json, "mode.headers").unwrap(), "[]", "an array prints as JSON");
    }

    #[test]
    fn a_missing_field_is_an_error_naming_what_is_there() {
        let json = run_json();
        let e = lookup(&json, "p99_us").unwrap_err();
        assert!(e.starts_with("no field p99_us: the top level has bytes, elapsed_s, errors, "), "{e}");
        let e = lookup(&json, "server.cpu").unwrap_err();
        assert!(e.ends_with("server has cpu_percent, cpu_seconds, max_threads, peak_rss_kib, pid"), "{e}");
        assert!(lookup(&json, "requests.x").unwrap_err().contains("requests is 2000, not an object"));
        assert!(lookup(&json, "").is_err());
    }

    #[test]
    fn an_array_item_is_named_by_its_index() {
        let json: Value = serde_json::from_str(r#"{"servers": ["rouille", "axum"]}"#).unwrap();
        assert_eq!(lookup(&json, "servers.1").unwrap(), "axum");
        assert!(lookup(&json, "servers.2").unwrap_err().contains("servers is an array of 2"));
    }

    #[test]
    fn cpu_per_1k_requests_is_the_reports_figure() {
        let json = run_json();
        let run: RunResult = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(lookup(&json, "cpu_per_1k_requests").unwrap(), cpu_per_1k(&run).unwrap().to_string());
        assert_eq!(lookup(&json, "cpu_per_1k_requests").unwrap(), "0.25");
    }

    #[test]
    fn a_derived_figure_a_run_cannot_give_is_null_and_of_other_json_an_error() {
        let mut json = run_json();
        json["server"] = Value::Null;
        assert_eq!(lookup(&json, "cpu_per_1k_requests").unwrap(), "null");
        let other: Value = serde_json::from_str(r#"{"requests": 3}"#).unwrap();
        assert!(lookup(&other, "cpu_per_1k_requests").unwrap_err().contains("not one"));
    }

    #[test]
    fn error_counts_are_the_reports_counts() {
        let mut run = fake(0);
        run.errors.connect = 2;
        run.errors.timeout = 3;
        run.errors.status.insert(502, 4);
        run.errors.status.insert(504, 1);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(lookup(&json, "socket_errors").unwrap(), run.errors.socket().to_string());
        assert_eq!(lookup(&json, "socket_errors").unwrap(), "5");
        assert_eq!(lookup(&json, "non_2xx").unwrap(), "5");
        assert_eq!(lookup(&json, "errors.status").unwrap(), r#"{"502":4,"504":1}"#, "the codes, as JSON");
    }

    #[test]
    fn no_derived_name_is_a_field_of_the_result_json() {
        let mut run = fake(0);
        run.server = Some(ServerSample::default());
        let json = serde_json::to_string(&run).unwrap();
        for (name, _) in DERIVED {
            assert!(!json.contains(&format!("\"{name}\"")), "{name} is also a field");
            assert!(derived(name).is_some());
        }
        assert!(derived("requests").is_none());
    }
}
