//! The shared conformance suite (conformance), against server-warp.
conformance::suite!(conformance::Subject::in_process(
    "warp",
    server_warp::SERVER_HEADER,
    server_warp::start,
    env!("CARGO_BIN_EXE_server-warp")
));
