//! The shared conformance suite (servers/conformance), against server-warp.
conformance::suite!(conformance::Subject {
    name: "warp",
    server_header: "warp",
    start: server_warp::start,
    binary: env!("CARGO_BIN_EXE_server-warp"),
    blocking: false,
});
