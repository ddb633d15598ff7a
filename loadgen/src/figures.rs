//! Figures derived from a run's result that the load tool itself needs (the capacity
//! search's cost per request) and the report shows: computed in one place.

use crate::result::RunResult;

/// The server's CPU seconds per 1,000 answers in the window (results.md's row "Server CPU
/// per 1k requests"), or `None` without a server sample or without answers. CPU % alone
/// ranks servers by their load, not their cost: a thread pool capped below the async
/// servers' rate shows a smaller % while each of its answers costs more.
pub fn cpu_per_1k(result: &RunResult) -> Option<f64> {
    let s = result.server.as_ref()?;
    (result.requests > 0).then(|| 1000.0 * s.cpu_seconds / result.requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ServerSample;
    use crate::result::tests::result;

    #[test]
    fn cpu_per_1k_is_cpu_seconds_per_thousand_answers() {
        let mut run = result(&[1000]);
        run.requests = 4000;
        run.server = Some(ServerSample { cpu_seconds: 2.0, ..ServerSample::default() });
        assert_eq!(cpu_per_1k(&run), Some(0.5));
    }

    #[test]
    fn cpu_per_1k_is_none_without_answers_or_without_a_server_sample() {
        let mut run = result(&[1000]);
        run.server = Some(ServerSample { cpu_seconds: 2.0, ..ServerSample::default() });
        run.requests = 0;
        assert_eq!(cpu_per_1k(&run), None, "no answers");
        run.requests = 10;
        run.server = None;
        assert_eq!(cpu_per_1k(&run), None, "no sample");
    }
}
