//! The shared conformance suite (servers/conformance), against server-warp.
conformance::suite!(conformance::Subject {
    known_gaps: &[conformance::HALF_CLOSE_IS_GONE],
    ..conformance::Subject::in_process(
        "warp",
        server_warp::SERVER_HEADER,
        server_warp::start,
        env!("CARGO_BIN_EXE_server-warp")
    )
});
