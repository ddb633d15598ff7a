//! Run with: `cargo run -p server-hyper -- [--listen 127.0.0.1:8080] [--upstream http://127.0.0.1:8090]`

fn main() -> std::process::ExitCode {
    contract::running::server_main("server-hyper", server_hyper::ABOUT, server_hyper::start)
}
