//! What gosleep, the servers and loadgen truly share about the machine they run on:
//! listening sockets ([`net`]), the file-descriptor limit, the stop signals ([`signals`]),
//! CPUs ([`cpus`]) and process trees read from /proc ([`procstat`]).
//!
//! Nothing here knows the bench contract (that is contract) or HTTP.

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
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        // From a soft limit well under the hard one, so that a raise that did nothing fails.
        let low = hard.min(256);
        rlimit::Resource::NOFILE.set(low, hard).unwrap();
        let raised = raise_fd_limit().unwrap();
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(raised, soft, "the limit returned is not the one set");
        if hard != rlimit::INFINITY {
            assert_eq!(soft, hard, "raised from {low} to {soft}, not to the hard limit");
        } else {
            assert!(soft > low, "not raised from {low} under an unlimited hard limit");
        }
    }
}
