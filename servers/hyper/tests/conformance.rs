//! The shared conformance suite (servers/conformance), against server-hyper.
conformance::suite!(conformance::Subject::in_process(
    "hyper",
    "hyper",
    server_hyper::start,
    env!("CARGO_BIN_EXE_server-hyper")
));
