//! The shared conformance suite (conformance), against server-hyper.
conformance::suite!(conformance::Subject::in_process(
    "hyper",
    server_hyper::SERVER_HEADER,
    server_hyper::start,
    env!("CARGO_BIN_EXE_server-hyper")
));
