//! Run with: `cargo run --release -p loadgen -- -c 100 -t 2 -d 10s --latency URL`

fn main() -> std::process::ExitCode {
    loadgen::main()
}
