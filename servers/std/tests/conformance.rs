//! The shared conformance suite (servers/conformance), against server-std.
conformance::suite!(conformance::Subject {
    name: "std",
    server_header: "std",
    start: server_std::start,
    binary: env!("CARGO_BIN_EXE_server-std"),
    blocking: true,
});
