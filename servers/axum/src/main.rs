//! server-axum binary: the shared CLI and main around [`server_axum::start`].
//!
//! Run with: cargo run -p server-axum
fn main() -> std::process::ExitCode {
    contract::running::server_main("server-axum", server_axum::ABOUT, server_axum::start)
}
