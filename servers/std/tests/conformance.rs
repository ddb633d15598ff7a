//! The shared conformance suite (servers/conformance), against server-std.
conformance::suite!(conformance::Subject {
    blocking: true,
    ..conformance::Subject::in_process("std", "std", server_std::start, env!("CARGO_BIN_EXE_server-std"))
});
