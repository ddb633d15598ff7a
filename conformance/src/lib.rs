//! One black-box conformance suite of the bench contract (docs/ARCHITECTURE.md, "The
//! contract", and docs/contract.md, "Faults, limits and hostile clients"), run against every server:
//! each server crate has a `tests/conformance.rs` (a test target with `harness = false`)
//! that is a single [`suite!`] invocation, so a new server's tests are one line, and every
//! case runs against every server the same way, over real HTTP on ephemeral ports of
//! 127.0.0.1, each case with its own gosleep.
//!
//! The Rust servers start in the test process ([`Start::InProcess`]). The Python servers of
//! `python/` run the same suite from this crate's `tests/python.rs`, each started as a
//! process of its own ([`Start::Process`], [`start_process`]): there every case is reported
//! ignored (skipped, never passed), with one line saying why, when the machine has no usable
//! python3 ([`Subject::requires`]), and the cases a third-party server is known to fail are
//! listed with the reason ([`Subject::known_gaps`]): each still runs, must still fail,
//! and fails the test once it passes.

use std::cell::Cell;
use std::io;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Trial};

use contract::{Config, Running};
use testkit::{self, Child};

pub mod cases;
pub mod faults;
pub mod hostile;
pub mod recovery;
pub mod rfc9112;
mod support;
pub mod tls;
pub mod upstream_answers;

/// A server under test.
#[derive(Clone, Copy)]
pub struct Subject {
    /// Short name (`"axum"`), used in messages.
    pub name: &'static str,
    /// The value every response must carry in `Server:`.
    pub server_header: &'static str,
    /// How a case starts the server with a [`Config`].
    pub start: Start,
    /// The server's binary (`env!("CARGO_BIN_EXE_server-NAME")`), for the cases that need
    /// the real process (signals, exit code), and what [`Start::Process`] runs.
    pub binary: &'static str,
    /// Thread-per-request model: the concurrency cases start it with `--threads 256`.
    pub blocking: bool,
    /// What the server needs of this machine, checked before each case: `Err(why)` skips
    /// the case (reported ignored, with the reason). `None`: nothing.
    pub requires: Option<fn() -> Result<(), String>>,
    /// Cases the server is known to fail, `(case, why)`: each runs expecting to fail (and
    /// prints `known gap: NAME: CASE: WHY`), and fails if it passes, so that a gap that
    /// closes is noticed and taken off the list.
    pub known_gaps: &'static [(&'static str, &'static str)],
}

impl Subject {
    /// A server of this workspace: started in-process by its crate's `start`, async,
    /// needing nothing, with no known gaps (`Subject { blocking: true, ..in_process(..) }`
    /// for a thread-per-request one).
    pub const fn in_process(
        name: &'static str,
        server_header: &'static str,
        start: fn(Config) -> io::Result<Running>,
        binary: &'static str,
    ) -> Self {
        Self {
            name,
            server_header,
            start: Start::InProcess(start),
            binary,
            blocking: false,
            requires: None,
            known_gaps: &[],
        }
    }

    /// Starts the server with `config`.
    pub fn start(&self, config: Config) -> io::Result<Running> {
        match self.start {
            Start::InProcess(start) => start(config),
            Start::Process => start_process(self.binary, &config),
        }
    }
}

/// How the suite starts a server.
#[derive(Clone, Copy)]
pub enum Start {
    /// The crate's `start`, serving on threads of the test process.
    InProcess(fn(Config) -> io::Result<Running>),
    /// [`Subject::binary`] as a process of its own ([`start_process`]): a server that is
    /// not a Rust crate of this workspace.
    Process,
}

/// How long [`start_process`]'s stop waits for the process to exit after SIGTERM: the
/// contract's 35 s drain and a margin.
pub const PROCESS_STOP_LIMIT: Duration = Duration::from_secs(40);

/// Runs `program` with `config`'s flags ([`Config::to_args`]) and waits for its listening
/// line. The stop sends SIGTERM to that process and waits for it, up to
/// [`PROCESS_STOP_LIMIT`] (then kills it); anything but exit status 0 is an error.
pub fn start_process(program: &str, config: &Config) -> io::Result<Running> {
    let mut child = Child::spawn(program, &config.to_args())?;
    let (addr, pid) = (child.addr(), child.id());
    let name = testkit::binary_name(program).to_owned();
    let stop = move || {
        child.signal("TERM")?;
        match child.wait_timeout(PROCESS_STOP_LIMIT)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(io::Error::other(format!("{name} exited with {status} after SIGTERM"))),
            // Dropping `child` kills it.
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{name} still running {PROCESS_STOP_LIMIT:?} after SIGTERM: killed"),
            )),
        }
    };
    Ok(Running::new(addr, stop).with_pid(pid))
}

thread_local! {
    /// This thread runs a known gap, whose panic is expected: the panic hook stays quiet.
    static EXPECTING_A_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `case` of the suite against `subject`, expecting it to fail if it is one of the
/// subject's known gaps.
#[doc(hidden)]
pub fn run_case(subject: &Subject, case: &str, run: fn(&Subject)) {
    let Some((_, why)) = subject.known_gaps.iter().find(|(gap, _)| *gap == case) else {
        return run(subject);
    };
    EXPECTING_A_PANIC.with(|e| e.set(true));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(subject)));
    EXPECTING_A_PANIC.with(|e| e.set(false));
    match outcome {
        Err(panic) => {
            let how = panic_text(&*panic).lines().next().unwrap_or("").to_owned();
            say(&format!("known gap: {}: {case}: {why} (failed: {how})", subject.name));
        }
        Ok(()) => panic!("{case}: listed as a known gap of {} but it passes; remove it from the list", subject.name),
    }
}

/// A panic's message, if it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("")
}

/// One line on stderr, also from a passing test: written to the handle, not through
/// `eprintln!`, which the test harness captures and shows only for a failure. A skip or a
/// known gap is worth seeing in every run.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{line}");
}

/// Every known gap of `subject` names a case of the suite: a misspelt one would never run
/// as a gap, and its case would fail as if it were not listed.
#[doc(hidden)]
pub fn check_known_gaps(subject: &Subject, cases: &[&str]) {
    for (gap, _) in subject.known_gaps {
        assert!(cases.contains(gap), "{}: known gap {gap:?} is not a case of the suite", subject.name);
    }
}

/// The conformance suite as the `main` of a test target with `harness = false`: libtest's
/// flags (a name filter, `--list`, `--test-threads`) and output, over [`trials`].
pub fn main(subjects: &[&'static Subject]) -> ExitCode {
    let args = Arguments::from_args();
    quiet_for_known_gaps();
    libtest_mimic::run(&args, trials(subjects)).exit_code()
}

/// One trial per case and subject (named `CASE`, or `SUBJECT::CASE` when there are
/// several), and one per subject checking its known gaps name cases. A case whose subject's
/// [`Subject::requires`] fails here is reported ignored with the reason: skipped, and
/// counted so at the end, never as passed.
pub fn trials(subjects: &[&'static Subject]) -> Vec<Trial> {
    let mut trials = Vec::new();
    for &subject in subjects {
        let name = |case: &str| if subjects.len() > 1 { format!("{}::{case}", subject.name) } else { case.to_owned() };
        for &(case, run) in CASES {
            trials.push(Trial::ignorable_test(name(case), move || {
                if let Some(Err(why)) = subject.requires.map(|requires| requires()) {
                    return Ok(Completion::ignored_with(format!("skipped: {}: {why}", subject.name)));
                }
                run_case(subject, case, run);
                Ok(Completion::Completed)
            }));
        }
        let cases: Vec<&str> = CASES.iter().map(|(case, _)| *case).collect();
        trials.push(Trial::test(name("known_gaps_are_cases_of_the_suite"), move || {
            check_known_gaps(subject, &cases);
            Ok(())
        }));
    }
    trials
}

/// A test target's whole `main` for one server: `conformance::suite!(SUBJECT_EXPR)` in its
/// `tests/conformance.rs` (declared with `harness = false`) runs [`main`] on that subject.
#[macro_export]
macro_rules! suite {
    ($subject:expr) => {
        static SUBJECT: $crate::Subject = $subject;

        fn main() -> ::std::process::ExitCode {
            $crate::main(&[&SUBJECT])
        }
    };
}

/// The panic hook, but silent on a thread running a known gap: its failure is expected,
/// and [`run_case`] names it in one line (libtest would capture the message; this harness
/// captures nothing).
fn quiet_for_known_gaps() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !EXPECTING_A_PANIC.with(Cell::get) {
            hook(info);
        }
    }));
}

/// Lists the suite's cases once, by module: [`CASES`].
macro_rules! cases {
    ($($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        /// Every case of the suite, named as its function, in the order they are listed.
        pub const CASES: &[(&str, fn(&Subject))] = &[$($((stringify!($case), $module::$case)),*),*];
    };
}

cases!(
            cases: [
                single_answers_one_call_and_its_bytes,
                multiple_answers_n_calls_and_total_bytes,
                multiple_defaults_to_the_fanout_flag,
                health_answers_ok,
                every_response_has_content_type_length_date_and_server,
                date_changes_between_requests_a_second_apart,
                multiple_fans_out_concurrently,
                reuse_keeps_upstream_connections_few,
                no_reuse_opens_one_upstream_connection_per_call,
                concurrent_singles_are_not_serialized,
                every_connection_of_a_burst_is_served,
                bad_query_is_400_with_a_json_error,
                unknown_path_is_404_and_wrong_method_is_405,
                wrong_method_with_a_body_is_still_405,
                upstream_down_is_502,
                upstream_non_2xx_is_502,
                upstream_timeout_is_504_and_serving_goes_on,
                upstream_back_after_an_outage_is_served_again,
                malformed_http_is_rejected_and_serving_goes_on,
                sigterm_finishes_in_flight_requests_and_exits_0,
                binary_defaults_are_the_contract,
                help_opens_with_the_binary_and_its_framework,
                a_port_in_use_is_named_and_the_start_fails,
                threads_out_of_range_exit_2_naming_the_range,
            ],
            // Recovery from a shortage, and the listen backlog (recovery.rs): the real binary.
            recovery: [
                accepts_again_within_5_s_after_running_out_of_file_descriptors,
                a_burst_of_connects_waits_in_the_listen_backlog,
            ],
            // Upstream faults (faults.rs): each fault of the test kit's fault upstream.
            faults: [
                upstream_that_never_answers_is_504_after_the_upstream_timeout,
                upstream_reset_mid_body_is_502,
                upstream_body_shorter_than_its_content_length_is_502,
                upstream_chunked_body_without_its_last_chunk_is_502,
                upstream_close_delimited_body_is_counted_exactly,
                upstream_non_2xx_answers_are_502,
                upstream_malformed_status_line_is_502,
                upstream_slow_drip_is_200_within_the_timeout_and_504_past_it,
                upstream_body_at_the_cap_is_counted_and_one_byte_over_is_502,
                upstream_endless_body_is_502_at_the_cap_and_not_buffered,
            ],
            // Upstream answers easy to get wrong: a redirect, 1xx, a 204 with bytes, and
            // framing errors named for their framing (upstream_answers.rs).
            upstream_answers: [
                an_upstream_redirect_is_502_and_never_followed,
                a_1xx_before_the_upstreams_200_is_200,
                an_upstream_204_with_a_body_is_a_call_of_0_bytes,
                a_framing_error_is_named_for_the_framing_the_upstream_used,
            ],
            // What RFC 9112 says of a request's target and framing (rfc9112.rs).
            rfc9112: [
                connect_and_asterisk_form_are_400_and_serving_goes_on,
                a_half_closed_client_gets_its_whole_answer,
                content_length_with_transfer_encoding_is_400_and_closed,
                a_get_with_an_empty_chunked_body_gets_one_answer,
                a_leading_empty_line_is_ignored,
                an_absolute_form_target_is_routed_by_its_path,
                a_missing_or_doubled_host_is_400,
                a_hash_in_the_target_is_400,
            ],
            // Hostile and careless clients: head limits, slow heads, idle and half-read
            // connections at a stop, a second signal, bad input logged as no error (hostile.rs).
            hostile: [
                a_request_line_over_the_limit_is_414,
                a_head_over_the_limit_is_431_or_closed,
                a_head_trickled_past_the_head_timeout_is_closed,
                a_later_head_trickled_past_the_head_timeout_is_closed,
                an_idle_keep_alive_connection_outlives_the_head_timeout,
                stop_closes_idle_and_half_read_connections_at_once,
                a_second_sigterm_exits_at_once_with_a_failure_status,
                new_connections_during_the_drain_are_refused,
                a_clients_bad_input_logs_no_error,
            ],
            // HTTPS upstreams (tls.rs): the TLS fault upstream's certificates and silences,
            // bad TLS flags, and connections and handshakes counted by the upstream.
            tls: [
                https_calls_answer_200_with_their_bytes_with_and_without_reuse,
                a_body_cut_short_over_https_is_502,
                an_untrusted_ca_is_502_naming_the_tls_failure,
                a_wrong_host_name_is_502_naming_the_tls_failure,
                an_expired_certificate_is_502_naming_the_tls_failure,
                plain_http_on_an_https_upstream_is_502_naming_the_tls_failure,
                a_tls_upstream_that_never_answers_the_hello_is_504_after_the_upstream_timeout,
                a_tls_upstream_on_an_http_url_is_502,
                a_missing_upstream_ca_file_exits_2_naming_it,
                an_upstream_ca_file_without_a_certificate_exits_2_naming_it,
                an_upstream_ca_with_an_http_upstream_exits_2_naming_both,
                reuse_over_https_keeps_tls_connections_few,
                no_reuse_over_https_opens_one_tls_connection_per_call,
                no_tls_resumption_makes_every_handshake_full,
                gosleep_over_https_counts_only_full_handshakes_with_no_tls_resumption,
            ],
);

#[cfg(test)]
mod tests {
    use super::*;

    fn never_started(_: Config) -> io::Result<Running> {
        Err(io::Error::other("not started here"))
    }

    const SUBJECT: Subject = Subject {
        known_gaps: &[("fails", "a known gap"), ("passes", "a gap that has closed")],
        ..Subject::in_process("self-test", "x", never_started, "server-x")
    };

    fn fails(_: &Subject) {
        panic!("the case fails");
    }

    fn passes(_: &Subject) {}

    fn unmet() -> Result<(), String> {
        Err("nothing here".to_owned())
    }

    static MISSING: Subject = Subject { requires: Some(unmet), known_gaps: &[], ..SUBJECT };

    #[test]
    fn a_case_whose_requirement_is_missing_is_reported_ignored_not_passed() {
        // Its report goes to a file: on stdout its summary line would be counted with this
        // test binary's own (as .ci/run's closing `tests:` line counts every summary).
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let logfile = Some(log.path().to_string_lossy().into_owned());
        let args = Arguments { test_threads: Some(1), logfile, ..Arguments::default() };
        let run = libtest_mimic::run(&args, trials(&[&MISSING]));
        // Every case ignored; only the check of the known gaps' names ran.
        assert_eq!((run.num_ignored, run.num_passed, run.num_failed), (CASES.len() as u64, 1, 0));
    }

    /// A suite target under libtest's own harness would set [`main`] aside and run no case,
    /// silently: every server's `tests/conformance.rs` is declared `harness = false`.
    #[test]
    fn every_servers_conformance_target_is_its_own_harness() {
        let servers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers");
        let mut seen = 0;
        for dir in std::fs::read_dir(&servers).expect("servers/").flatten() {
            if !dir.path().join("tests/conformance.rs").exists() {
                continue;
            }
            let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).expect("Cargo.toml");
            let declared = manifest.split("[[test]]").skip(1).any(|t| {
                let lines: Vec<&str> = t.lines().map(str::trim).collect();
                lines.contains(&"name = \"conformance\"") && lines.contains(&"harness = false")
            });
            assert!(declared, "{}: tests/conformance.rs is not declared harness = false", dir.path().display());
            seen += 1;
        }
        assert!(seen >= 6, "only {seen} servers with a conformance target under {}", servers.display());
    }

    #[test]
    fn a_known_gap_that_fails_passes() {
        run_case(&SUBJECT, "fails", fails);
    }

    #[test]
    #[should_panic(expected = "passes: listed as a known gap of self-test but it passes; remove it from the list")]
    fn a_known_gap_that_passes_fails() {
        run_case(&SUBJECT, "passes", passes);
    }

    #[test]
    #[should_panic(expected = "the case fails")]
    fn a_case_not_listed_fails_as_it_is() {
        run_case(&SUBJECT, "other", fails);
    }

    #[test]
    #[should_panic(expected = "self-test: known gap \"fails\" is not a case of the suite")]
    fn a_known_gap_must_name_a_case() {
        check_known_gaps(&SUBJECT, &["passes", "other"]);
    }
}
