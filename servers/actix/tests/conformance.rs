//! The shared conformance suite (servers/conformance), against server-actix.
conformance::suite!(conformance::Subject {
    name: "actix",
    server_header: "actix-web",
    start: server_actix::start,
    binary: env!("CARGO_BIN_EXE_server-actix"),
    blocking: false,
});
