//! What gosleep, the servers and loadgen truly share about the machine they run on:
//! listening sockets ([`net`]), the file-descriptor limit, the stop signals ([`signals`]),
//! CPUs ([`cpus`]) and process trees read from /proc ([`procstat`]).
//!
//! Nothing here knows the bench contract (that is server-common) or HTTP.

pub mod cpus;
pub mod net;
pub mod procstat;
pub mod signals;

use std::io;

pub use cpus::available_cpus;
pub use net::{AcceptErrors, LISTEN_BACKLOG, ListenError, bind_listener, bind_tokio_listener};
pub use signals::ShutdownSignals;

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit.
///
/// A proxy under `/multiple` holds C x (1 + fanout) sockets; the usual soft limit of 1024
/// would turn a benchmark into an EMFILE test.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_limit_is_raised_to_the_hard_limit() {
        let raised = raise_fd_limit().unwrap();
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(raised, soft);
        assert_eq!(soft, hard.min(raised));
        assert!(soft >= 1024, "soft limit {soft}");
    }
}
