//! The shared conformance suite (servers/conformance), against server-rouille.
conformance::suite!(conformance::Subject {
    name: "rouille",
    server_header: "rouille",
    start: server_rouille::start,
    binary: env!("CARGO_BIN_EXE_server-rouille"),
    blocking: true,
});
