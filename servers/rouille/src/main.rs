//! The server-rouille binary: the shared CLI, signals and graceful stop around [`server_rouille::start`].
//!
//! Run with: cargo run -p server-rouille

fn main() -> std::process::ExitCode {
    contract::running::server_main("server-rouille", server_rouille::ABOUT, server_rouille::start)
}
