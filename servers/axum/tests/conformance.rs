//! The shared conformance suite (servers/conformance), against server-axum.
conformance::suite!(conformance::Subject {
    name: "axum",
    server_header: "axum",
    start: server_axum::start,
    binary: env!("CARGO_BIN_EXE_server-axum"),
    blocking: false,
});
