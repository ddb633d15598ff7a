//! One black-box conformance suite of the bench contract (README, "Running a server by
//! hand" and "Faults, limits and hostile clients"), run against every server: each server
//! crate has a `tests/conformance.rs` that is a single [`suite!`]
//! invocation, so adding a server means adding one line, and every case runs
//! against every server the same way, over real HTTP on ephemeral ports of 127.0.0.1,
//! each case with its own gosleep.

use std::io;

use server_common::{Config, Running};

pub mod cases;
pub mod faults;
pub mod hostile;
pub mod recovery;
mod support;

/// A server under test.
#[derive(Clone, Copy)]
pub struct Subject {
    /// Short name (`"axum"`), used in messages.
    pub name: &'static str,
    /// The value every response must carry in `Server:`.
    pub server_header: &'static str,
    /// The crate's `start`.
    pub start: fn(Config) -> io::Result<Running>,
    /// The crate's binary (`env!("CARGO_BIN_EXE_server-NAME")`), for the cases that need
    /// the real process (signals, exit code).
    pub binary: &'static str,
    /// Thread-per-request model: the concurrency cases start it with `--threads 256`.
    pub blocking: bool,
}

/// Generates one `#[test]` per conformance case for `$subject` (a [`Subject`]).
#[macro_export]
macro_rules! suite {
    ($subject:expr) => {
        const SUBJECT: $crate::Subject = $subject;
        $crate::__cases!(
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
        );
        // Recovery from a shortage, and the listen backlog (recovery.rs): the real binary.
        $crate::__cases!(recovery:
            accepts_again_within_5_s_after_running_out_of_file_descriptors,
            a_burst_of_connects_waits_in_the_listen_backlog,
        );
        // Upstream faults (faults.rs): each fault of the test kit's fault upstream.
        $crate::__cases!(faults:
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
        );
        // Hostile and careless clients: head limits, slow heads, idle and half-read
        // connections at a stop, a second signal, bad input logged as no error (hostile.rs).
        $crate::__cases!(hostile:
            a_request_line_over_the_limit_is_414_or_431_or_closed,
            a_head_over_the_limit_is_431_or_closed,
            a_head_trickled_past_the_head_timeout_is_closed,
            a_later_head_trickled_past_the_head_timeout_is_closed,
            an_idle_keep_alive_connection_outlives_the_head_timeout,
            stop_closes_idle_and_half_read_connections_at_once,
            a_second_sigterm_exits_at_once_with_a_failure_status,
            a_clients_bad_input_logs_no_error,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __cases {
    ($module:ident: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::$module::$case(&SUBJECT);
            }
        )*
    };
    ($($case:ident),* $(,)?) => {
        $crate::__cases!(cases: $($case),*);
    };
}
