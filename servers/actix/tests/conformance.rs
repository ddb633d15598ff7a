//! The shared conformance suite (conformance), against server-actix.
conformance::suite!(conformance::Subject::in_process(
    "actix",
    server_actix::SERVER_HEADER,
    server_actix::start,
    env!("CARGO_BIN_EXE_server-actix")
));
