//! The shared conformance suite (conformance), against server-std.
conformance::suite!(conformance::Subject {
    blocking: true,
    ..conformance::Subject::in_process(
        "std",
        server_std::SERVER_HEADER,
        server_std::start,
        env!("CARGO_BIN_EXE_server-std")
    )
});
