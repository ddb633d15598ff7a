//! The shared conformance suite (conformance), against server-rouille.
conformance::suite!(conformance::Subject {
    blocking: true,
    ..conformance::Subject::in_process(
        "rouille",
        server_rouille::SERVER_HEADER,
        server_rouille::start,
        env!("CARGO_BIN_EXE_server-rouille")
    )
});
