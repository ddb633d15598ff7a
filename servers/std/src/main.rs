//! The server-std binary: the shared CLI, signals and graceful stop around [`server_std::start`].
//!
//! Run with: cargo run -p server-std

fn main() -> std::process::ExitCode {
    contract::running::server_main("server-std", server_std::ABOUT, server_std::start)
}
