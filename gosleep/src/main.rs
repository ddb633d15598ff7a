//! Run with: `cargo run --release -p gosleep -- [--listen 127.0.0.1:8090] [--delay-ms 1000]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let (config, tls) = gosleep::Config::parse_checked();
    contract::running::main("gosleep", || gosleep::start_with(config, tls))
}
