//! The shared conformance suite (conformance), against server-axum.
conformance::suite!(conformance::Subject::in_process(
    "axum",
    server_axum::SERVER_HEADER,
    server_axum::start,
    env!("CARGO_BIN_EXE_server-axum")
));
