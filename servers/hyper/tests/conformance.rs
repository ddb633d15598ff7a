//! The shared conformance suite (servers/conformance), against server-hyper.
conformance::suite!(conformance::Subject {
    name: "hyper",
    server_header: "hyper",
    start: server_hyper::start,
    binary: env!("CARGO_BIN_EXE_server-hyper"),
    blocking: false,
});
