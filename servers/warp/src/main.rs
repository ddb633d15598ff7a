//! server-warp binary: the shared CLI and main around [`server_warp::start`].
//!
//! Run with: cargo run -p server-warp
fn main() -> std::process::ExitCode {
    contract::running::server_main("server-warp", server_warp::ABOUT, server_warp::start)
}
