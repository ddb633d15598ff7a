//! Run with: `cargo run --release -p gosleep -- [--listen 127.0.0.1:8090] [--delay-ms 1000]`

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let config = gosleep::Config::parse();
    server_common::running::main("gosleep", || gosleep::start(config))
}
