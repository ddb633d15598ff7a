//! The server-actix binary: the shared CLI, signals and graceful stop around [`server_actix::start`].
//!
//! Run with: cargo run -p server-actix

fn main() -> std::process::ExitCode {
    contract::running::server_main("server-actix", server_actix::ABOUT, server_actix::start)
}
