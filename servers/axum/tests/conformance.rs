//! The shared conformance suite (servers/conformance), against server-axum.
conformance::suite!(conformance::Subject {
    known_gaps: &[conformance::HALF_CLOSE_IS_GONE],
    ..conformance::Subject::in_process(
        "axum",
        server_axum::SERVER_HEADER,
        server_axum::start,
        env!("CARGO_BIN_EXE_server-axum")
    )
});
