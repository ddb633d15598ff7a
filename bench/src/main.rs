//! Run with: `cargo run --release -p bench -- run --quick` (what `./run_all.sh --quick` does).

fn main() -> std::process::ExitCode {
    bench::main()
}
